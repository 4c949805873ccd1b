"""Bring rows stored before the input rules within them: control characters dropped from
text, dates outside 2000–2100 moved to the nearest bound (docs/decisions.md)."""

from django.db import migrations

MODELS = "Contract".split(",")


def clean(apps, schema_editor):
    from apps.core.inputs import clean_stored_rows

    for name in MODELS:
        clean_stored_rows(apps.get_model("contracts", name))


class Migration(migrations.Migration):
    dependencies = [("contracts", "0002_communities_upper_bound")]

    operations = [migrations.RunPython(clean, migrations.RunPython.noop)]
