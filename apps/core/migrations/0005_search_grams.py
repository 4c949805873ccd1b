"""The gram table and procedure behind substring search on MySQL and MariaDB
(``apps.core.search``); nothing on other databases."""

from django.db import migrations

from apps.core.search import gram_table_operation


class Migration(migrations.Migration):
    dependencies = [("core", "0004_task_stat")]

    operations = [gram_table_operation()]
