"""The 姓名/公司名 search index in its current form (``apps.core.search``)."""

from django.db import migrations

from apps.core.search import reindex_operation

SEARCH_INDEX = 2


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0008_name_search"),
        ("core", "0006_search_trigrams"),
    ]

    operations = [reindex_operation("leads_lead", ("name", "company"), SEARCH_INDEX)]
