from django.db import migrations


def create_sequence(apps, schema_editor):
    Sequence = apps.get_model("core", "Sequence")
    # 企业号 start at HGJ100001; the row exists before the first concurrent creation.
    Sequence.objects.get_or_create(name="enterprise_no", defaults={"value": 100000})


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunPython(create_sequence, migrations.RunPython.noop)]
