"""List every customer that has a data source in the tenant registry feed, in id order,
and start the "registry" sequence after them."""

from django.db import migrations
from django.utils import timezone


def list_configured(apps, schema_editor):
    Customer = apps.get_model("customers", "Customer")
    DataSource = apps.get_model("datasources", "DataSource")
    Sequence = apps.get_model("core", "Sequence")
    ids = sorted(DataSource.objects.values_list("customer_id", flat=True))
    if not ids:
        return
    sequence, _created = Sequence.objects.get_or_create(name="registry", defaults={"value": 0})
    now = timezone.now()
    rows = []
    for offset, pk in enumerate(ids, start=sequence.value + 1):
        rows.append(Customer(pk=pk, registry_seq=offset, registry_changed_at=now))
    Customer.objects.bulk_update(rows, ["registry_seq", "registry_changed_at"], batch_size=500)
    sequence.value += len(ids)
    sequence.save(update_fields=["value"])


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("customers", "0005_registry_feed_position"),
        ("datasources", "0006_rollout_tenant_queued"),
    ]

    operations = [migrations.RunPython(list_configured, migrations.RunPython.noop)]
