import re

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DatasourcesConfig(AppConfig):
    name = "apps.datasources"
    label = "datasources"
    verbose_name = "数据源"

    def ready(self) -> None:
        from . import crypto

        # Refuse to start with a malformed key or an unsafe database-name prefix.
        crypto.validate_keys()
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,19}", settings.TENANT_DB_PREFIX or ""):
            raise ImproperlyConfigured(
                "TENANT_DB_PREFIX must be 1-20 characters of [a-z0-9_] starting with a letter"
            )
