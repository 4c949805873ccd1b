import pytest

from apps.audit.models import AuditLog
from apps.core.errors import Conflict, Forbidden, ProfileIncomplete, ValidationFailed
from apps.customers.models import Customer
from apps.customers.services import (
    PROFILE_REQUIRED_FIELDS,
    activation_blockers,
    customer_activate,
    customer_assign,
    customer_close,
    customer_complete_profile,
    customer_create,
    customer_update,
    missing_profile_fields,
)
from apps.customers.tests.factories import COMPLETE_PROFILE, make_customer, unique_uscc
from apps.datasources.tests.factories import make_datasource

pytestmark = pytest.mark.django_db


def test_create_incomplete_customer_with_generated_number_and_audit(ops):
    customer = customer_create(
        actor=ops,
        data={"name": " 华南物业 ", "contact_name": "李四", "contact_phone": "138 0013 8000"},
    )
    assert customer.enterprise_no.startswith("HGJ") and len(customer.enterprise_no) == 9
    assert customer.name == "华南物业"
    assert customer.contact_phone == "13800138000"
    assert customer.owner == ops and customer.status == Customer.Status.NOT_OPENED
    assert missing_profile_fields(customer) == ["license_no", "province", "city", "address"]
    row = AuditLog.objects.get(action="create", object_id=str(customer.pk))
    assert row.actor == ops and row.changes["name"] == [None, "华南物业"]


def test_enterprise_numbers_increase_and_are_unique(ops):
    a = make_customer(actor=ops)
    b = make_customer(actor=ops)
    assert int(b.enterprise_no[3:]) == int(a.enterprise_no[3:]) + 1


def test_invalid_fields_are_named_in_chinese(ops):
    with pytest.raises(ValidationFailed) as exc:
        customer_create(
            actor=ops,
            data={
                "name": "x",
                "license_no": "91110000600037341A",
                "contact_phone": "12345",
                "email": "not-an-email",
                "province": "110000",
                "city": "440300",
            },
        )
    fields = exc.value.fields
    assert set(fields) >= {"license_no", "contact_phone", "email", "city"}
    assert "营业执照号" in exc.value.message and "联系电话" in exc.value.message
    assert Customer.objects.count() == 0


def test_duplicate_license_number_refused(ops):
    make_customer(actor=ops, complete=True, license_no="91110000600037341L")
    with pytest.raises(ValidationFailed) as exc:
        make_customer(actor=ops, license_no="91110000600037341l")
    assert "license_no" in exc.value.fields


def test_ops_cannot_create_for_someone_else(ops, ops2):
    with pytest.raises(Forbidden):
        customer_create(actor=ops, data={"name": "x"}, owner=ops2)


def test_devops_cannot_create(devops):
    with pytest.raises(Forbidden):
        customer_create(actor=devops, data={"name": "x"})


def test_update_records_field_diff(ops):
    customer = make_customer(actor=ops, name="旧名称")
    customer_update(actor=ops, customer=customer, data={"name": "新名称", "remarks": "回访过"})
    row = AuditLog.objects.filter(action="update").latest("id")
    assert row.changes == {"name": ["旧名称", "新名称"], "remarks": ["", "回访过"]}


def test_update_without_change_writes_no_audit(ops):
    customer = make_customer(actor=ops, name="同名")
    before = AuditLog.objects.count()
    customer_update(actor=ops, customer=customer, data={"name": "同名"})
    assert AuditLog.objects.count() == before


def test_update_refuses_unknown_fields(ops):
    customer = make_customer(actor=ops)
    with pytest.raises(ValidationFailed):
        customer_update(actor=ops, customer=customer, data={"enterprise_no": "HGJ000001"})


def test_activation_needs_a_complete_profile(ops):
    customer = make_customer(actor=ops, contact_name="张三", contact_phone="13900139000")
    with pytest.raises(ProfileIncomplete) as exc:
        customer_activate(actor=ops, customer=customer, modules=["property"])
    assert set(exc.value.fields) == {"license_no", "province", "city", "address"}
    customer.refresh_from_db()
    assert customer.status == Customer.Status.NOT_OPENED


def test_activation_with_profile_completes_and_opens_in_one_step(ops):
    customer = make_customer(actor=ops, contact_name="张三", contact_phone="13900139000")
    make_datasource(customer)
    profile = {k: COMPLETE_PROFILE[k] for k in ("province", "city", "address")}
    profile["license_no"] = unique_uscc()
    customer = customer_activate(
        actor=ops, customer=customer, modules=["repair", "property"], profile=profile
    )
    assert customer.status == Customer.Status.OPEN
    assert customer.modules == ["property", "repair"]  # settings order
    assert customer.activated_by == ops and customer.activated_at
    actions = list(
        AuditLog.objects.filter(object_id=str(customer.pk)).values_list("action", flat=True)
    )
    assert "activate" in actions and "update" in actions


def test_failed_activation_keeps_profile_unchanged(ops):
    customer = make_customer(actor=ops, contact_name="张三", contact_phone="13900139000")
    with pytest.raises(ValidationFailed):
        customer_activate(
            actor=ops, customer=customer, modules=["nope"], profile={"address": "某路 1 号"}
        )
    customer.refresh_from_db()
    assert customer.address == ""


def test_partial_profile_in_modal_is_refused(ops):
    customer = make_customer(actor=ops)
    with pytest.raises(ProfileIncomplete) as exc:
        customer_complete_profile(actor=ops, customer=customer, data={"address": "某路 1 号"})
    assert "license_no" in exc.value.fields
    customer.refresh_from_db()
    assert customer.address == ""


def test_activate_twice_conflicts_and_close_needs_reason(ops):
    customer = make_customer(actor=ops, complete=True)
    make_datasource(customer)
    customer_activate(actor=ops, customer=customer, modules=["property"])
    with pytest.raises(Conflict):
        customer_activate(actor=ops, customer=customer, modules=["property"])
    with pytest.raises(ValidationFailed) as exc:
        customer_close(actor=ops, customer=customer, reason="  ")
    assert "reason" in exc.value.fields
    customer = customer_close(actor=ops, customer=customer, reason="合同到期")
    assert customer.status == Customer.Status.CLOSED and customer.close_reason == "合同到期"
    with pytest.raises(Conflict):
        customer_close(actor=ops, customer=customer, reason="again")
    # Re-opening is allowed and clears the reason.
    customer = customer_activate(actor=ops, customer=customer, modules=["property"])
    assert customer.close_reason == ""


def test_activation_requires_modules(ops):
    customer = make_customer(actor=ops, complete=True)
    with pytest.raises(ValidationFailed) as exc:
        customer_activate(actor=ops, customer=customer, modules=[])
    assert "modules" in exc.value.fields


def test_blockers_list_is_the_single_prerequisite_home(ops):
    customer = make_customer(actor=ops)
    assert [b.code for b in activation_blockers(customer)] == [
        "profile_incomplete",
        "datasource_missing",
    ]
    full = make_customer(actor=ops, complete=True)
    assert [b.code for b in activation_blockers(full)] == ["datasource_missing"]
    make_datasource(full)
    assert activation_blockers(full) == []
    assert set(PROFILE_REQUIRED_FIELDS) == {
        "license_no",
        "name",
        "province",
        "city",
        "address",
        "contact_name",
        "contact_phone",
    }


def test_assign_requires_permission_and_audits(ops, ops2, manager):
    a = make_customer(actor=ops)
    b = make_customer(actor=manager, owner=None)
    with pytest.raises(Forbidden):
        customer_assign(actor=ops, customers=[a], owner=ops2)
    changed = customer_assign(actor=manager, customers=[a, b], owner=ops2)
    assert changed == 2
    assert set(Customer.objects.values_list("owner", flat=True)) == {ops2.pk}
    assert AuditLog.objects.filter(action="assign").count() == 2
    assert customer_assign(actor=manager, customers=[a], owner=ops2) == 0


def test_assign_refuses_staff_who_cannot_own_customers(manager, nobody):
    a = make_customer(actor=manager)
    with pytest.raises(ValidationFailed):
        customer_assign(actor=manager, customers=[a], owner=nobody)
