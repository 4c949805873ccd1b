"""Substring search on 姓名 and 公司名 through an index (``apps.core.search``)."""

from django.db import migrations

from apps.core.search import index_operation

SEARCH_INDEX = 2


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0007_pool_rules"),
        ("core", "0005_search_grams"),
    ]

    operations = [index_operation("leads_lead", ("name", "company"), SEARCH_INDEX)]
