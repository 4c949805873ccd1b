"""Substring search: trigrams in the MySQL/MariaDB gram table (a two-character text reads
the grams starting with it) and PostgreSQL's bigram function (``apps.core.search``)."""

from django.db import migrations

from apps.core.search import upgrade_operation


class Migration(migrations.Migration):
    dependencies = [("core", "0005_search_grams")]

    operations = [upgrade_operation()]
