"""A saved data source is read-only forever; only 实施状态 moves."""

import pytest

from apps.core.errors import Conflict
from apps.customers.tests.factories import make_customer
from apps.datasources.models import DataSource, ImmutableDataSource
from apps.datasources.services import datasource_update
from apps.datasources.tests.factories import make_datasource

pytestmark = pytest.mark.django_db

CHANGES = [
    ("host", "10.0.3.99"),
    ("port", 3307),
    ("db_type", "postgresql"),
    ("username", "other"),
    ("max_connections", 99),
    ("min_connections", 2),
    ("remarks", "改一下"),
    ("name", "DS-OTHER"),
    ("database", "other_db"),
    ("database_created", True),
]


@pytest.fixture
def datasource(ops, devops):
    return make_datasource(make_customer(actor=ops, complete=True), actor=devops)


@pytest.mark.parametrize("field_name, value", CHANGES)
def test_model_save_refuses_any_changed_field(datasource, field_name, value):
    stored = getattr(datasource, field_name)
    setattr(datasource, field_name, value)
    with pytest.raises(ImmutableDataSource) as exc:
        datasource.save()
    assert exc.value.status == 409 and field_name in exc.value.fields
    datasource.refresh_from_db()
    assert getattr(datasource, field_name) == stored


def test_password_cannot_be_replaced(datasource):
    before = datasource.password_encrypted
    datasource.set_password("Another#2026pw")
    with pytest.raises(ImmutableDataSource) as exc:
        datasource.save()
    assert "密码" in exc.value.message
    datasource.refresh_from_db()
    assert datasource.password_encrypted == before
    assert datasource.get_password() == "Tenant#2026pw"


def test_a_fresh_instance_with_the_same_pk_cannot_overwrite(datasource):
    copy = DataSource.objects.get(pk=datasource.pk)
    copy.username = "intruder"
    with pytest.raises(ImmutableDataSource):
        copy.save(force_update=True)


@pytest.mark.parametrize("field_name, value", CHANGES[:4])
def test_queryset_update_and_bulk_update_refuse_other_fields(datasource, field_name, value):
    with pytest.raises(ImmutableDataSource):
        DataSource.objects.filter(pk=datasource.pk).update(**{field_name: value})
    setattr(datasource, field_name, value)
    with pytest.raises(ImmutableDataSource):
        DataSource.objects.bulk_update([datasource], [field_name])
    with pytest.raises(ImmutableDataSource):
        datasource.save(update_fields=[field_name])
    assert getattr(DataSource.objects.get(pk=datasource.pk), field_name) != value


def test_saving_an_unchanged_row_and_the_status_is_allowed(datasource):
    datasource.save()
    datasource.impl_status = DataSource.ImplStatus.IN_PROGRESS
    datasource.save()
    assert DataSource.objects.get(pk=datasource.pk).impl_status == 1


def test_service_refuses_edits(datasource, devops):
    with pytest.raises(Conflict) as exc:
        datasource_update(actor=devops, datasource=datasource, data={"host": "10.0.0.1"})
    assert exc.value.status == 409 and "不可修改" in exc.value.message
    assert exc.value.fields == {"host": ["保存后不可修改"]}


def test_rows_past_not_started_cannot_be_deleted_by_any_path(datasource):
    DataSource.objects.filter(pk=datasource.pk).update(impl_status=1)
    datasource.refresh_from_db()
    with pytest.raises(Conflict):
        datasource.delete()
    with pytest.raises(Conflict):
        DataSource.objects.filter(pk=datasource.pk).delete()
    assert DataSource.objects.filter(pk=datasource.pk).exists()


def test_str_and_repr_never_show_the_password(datasource):
    text = f"{datasource} {datasource!r} {vars(datasource)}"
    assert "Tenant#2026pw" not in text
