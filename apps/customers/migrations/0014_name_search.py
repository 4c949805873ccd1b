"""Substring search on 企业名称 and 联系人 through an index (``apps.core.search``)."""

from django.db import migrations

from apps.core.search import index_operation

SEARCH_INDEX = 1


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0013_import_merge_permissions"),
        ("core", "0005_search_grams"),
    ]

    operations = [index_operation("customers_customer", ("name", "contact_name"), SEARCH_INDEX)]
