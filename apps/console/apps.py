from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The console's own layer: the 工作台, the menu, demo data and the template filters
    every page uses. It sits above the domain apps and may read all of them; nothing
    below imports it."""

    name = "apps.console"
    label = "console"
    verbose_name = "控制台"
