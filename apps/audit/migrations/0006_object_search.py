"""Free text on the 操作日志's 对象 through an index (``apps.core.search``)."""

from django.db import migrations

from apps.core.search import index_operation

SEARCH_INDEX = 3


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_list_indexes"),
        ("core", "0006_search_trigrams"),
    ]

    operations = [index_operation("audit_auditlog", ("object_repr",), SEARCH_INDEX)]
