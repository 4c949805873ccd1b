"""The 企业名称/联系人 search index in its current form (``apps.core.search``)."""

from django.db import migrations

from apps.core.search import reindex_operation

SEARCH_INDEX = 1


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0014_name_search"),
        ("core", "0006_search_trigrams"),
    ]

    operations = [reindex_operation("customers_customer", ("name", "contact_name"), SEARCH_INDEX)]
