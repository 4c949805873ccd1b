"""``audit.tracked``: the one audited-change helper the ``*_update`` services and state
changes share."""

from __future__ import annotations

import pytest

from apps.accounts.tests.factories import make_staff
from apps.audit import services as audit
from apps.audit.models import AuditLog

pytestmark = pytest.mark.django_db


def rows(obj) -> list[AuditLog]:
    return list(AuditLog.objects.filter(object_id=str(obj.pk)).order_by("pk"))


def test_a_change_is_recorded_with_its_difference():
    actor = make_staff("boss", "admin")
    user = make_staff("wl", "ops", name="王磊")
    with audit.tracked(user, actor=actor, message="改名") as change:
        user.name = "王磊磊"
        user.save()
    [row] = rows(user)
    assert row.action == "update" and row.message == "改名" and row.actor == actor
    assert row.changes == {"name": ["王磊", "王磊磊"]} == change.changes
    assert change.row == row


def test_nothing_changed_writes_nothing_unless_always():
    actor = make_staff("boss", "admin")
    user = make_staff("wl", "ops", name="王磊")
    with audit.tracked(user, actor=actor):
        user.save()
    assert rows(user) == []
    with audit.tracked(user, actor=actor, action="unlock", always=True):
        pass
    assert [(r.action, r.changes) for r in rows(user)] == [("unlock", {})]


def test_a_refusal_inside_the_block_writes_nothing():
    actor = make_staff("boss", "admin")
    user = make_staff("wl", "ops", name="王磊")
    with pytest.raises(ValueError), audit.tracked(user, actor=actor, always=True):
        user.name = "半途"
        raise ValueError
    assert rows(user) == []


def test_action_may_depend_on_the_changes_and_extra_values_are_compared():
    actor = make_staff("boss", "admin")
    user = make_staff("wl", "ops", name="王磊")

    def action(changes):
        return "disable" if set(changes) == {"is_active"} else "update"

    def roles(u):
        return {"roles": sorted(u.groups.values_list("name", flat=True))}

    with audit.tracked(user, actor=actor, action=action, extra=roles):
        user.is_active = False
        user.save()
    with audit.tracked(user, actor=actor, action=action, extra=roles):
        user.groups.clear()
    first, second = rows(user)
    assert first.action == "disable" and first.changes == {"is_active": [True, False]}
    assert second.action == "update" and second.changes == {"roles": [["ops"], []]}


def test_update_record_sets_editable_fields_validates_and_audits_once():
    from apps.core.errors import ValidationFailed
    from apps.customers.tests.factories import make_customer

    actor = make_staff("boss", "admin")
    customer = make_customer(actor=actor, name="甲物业")
    before = rows(customer)
    with pytest.raises(ValidationFailed) as refused:
        audit.update_record(customer, actor=actor, data={"status": 1}, editable=["name"])
    assert refused.value.fields == {"status": ["不可修改"]}
    with pytest.raises(ValidationFailed):
        audit.update_record(customer, actor=actor, data={"email": "不是邮箱"}, editable=["email"])
    assert rows(customer) == before
    saved = audit.update_record(customer, actor=actor, data={"name": "乙物业"}, editable=["name"])
    assert saved.name == "乙物业"
    [row] = rows(customer)[len(before) :]
    assert row.action == "update" and row.changes == {"name": ["甲物业", "乙物业"]}
    audit.update_record(customer, actor=actor, data={"name": "乙物业"}, editable=["name"])
    assert len(rows(customer)) == len(before) + 1  # nothing changed, nothing written
