"""Lead services: offline entry, claim, assignment, follow-ups and every status move,
无意向 with reasons, reopen, conversion (once), QR channels, and the audit rows they leave."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.tests.factories import make_staff
from apps.audit.models import AuditLog
from apps.core.errors import Conflict, Forbidden, ValidationFailed
from apps.customers.models import Customer
from apps.customers.tests.factories import make_customer, unique_uscc
from apps.leads import services
from apps.leads.models import Channel, FollowUp, Lead, QrChannel

from .factories import make_lead, new_phone

pytestmark = pytest.mark.django_db
Status = Lead.Status


def _audit(obj, action: str) -> AuditLog:
    return AuditLog.objects.get(
        content_type__model=obj._meta.model_name, object_id=str(obj.pk), action=action
    )


def _follow(lead, actor, result, **kwargs):
    kwargs.setdefault("method", FollowUp.Method.PHONE)
    return services.lead_follow_up(actor=actor, lead=lead, result=result, **kwargs)


# --- Offline entry -----------------------------------------------------------------------


def test_offline_entry_is_owned_by_its_author_and_audited(ops):
    lead = services.lead_create_offline(
        actor=ops, name=" 赵经理 ", phone="138-0013-8000", company="海岸物业", notes="展会认识"
    )
    assert (lead.name, lead.phone, lead.company) == ("赵经理", "+8613800138000", "海岸物业")
    assert lead.channel == Channel.OFFLINE and lead.channel_ref == ops.username
    assert lead.owner == ops and lead.created_by == ops and lead.status == Status.NEW
    row = _audit(lead, "create")
    assert row.actor == ops and row.changes["channel"] == [None, "offline"]


def test_offline_entry_refuses_a_known_phone_naming_the_existing_lead(ops, ops2):
    existing = make_lead(owner=ops2, name="钱总", phone="13800138000")
    with pytest.raises(Conflict) as exc:
        services.lead_create_offline(actor=ops, name="钱", phone="+86 138 0013 8000")
    error = exc.value
    assert error.status == 409 and error.code == "duplicate_lead"
    assert f"#{existing.pk}" in error.message and "钱总" in error.message
    assert "运营小李" in error.message and error.existing_id == existing.pk
    assert set(error.fields) == {"phone"}
    assert Lead.objects.count() == 1


def test_offline_entry_validates_and_needs_the_permission(ops, devops):
    with pytest.raises(ValidationFailed) as exc:
        services.lead_create_offline(actor=ops, name="", phone="12345")
    assert set(exc.value.fields) == {"name", "phone"}
    with pytest.raises(Forbidden):
        services.lead_create_offline(actor=devops, name="王", phone=new_phone())
    assert not Lead.objects.exists()


def test_update_corrects_fields_and_refuses_another_leads_phone(ops):
    lead = make_lead(owner=ops, channel="offline", company="旧名")
    other = make_lead()
    services.lead_update(actor=ops, lead=lead, data={"company": "新名", "phone": "13700137000"})
    lead.refresh_from_db()
    assert lead.company == "新名" and lead.phone == "+8613700137000"
    assert _audit(lead, "update").changes["company"] == ["旧名", "新名"]
    with pytest.raises(Conflict):
        services.lead_update(actor=ops, lead=lead, data={"phone": other.display_phone})
    with pytest.raises(ValidationFailed):
        services.lead_update(actor=ops, lead=lead, data={"status": "converted"})


# --- Claim -------------------------------------------------------------------------------


def test_claim_takes_a_pool_lead_once(ops, ops2):
    lead = make_lead()
    services.lead_claim(actor=ops, lead=lead)
    lead.refresh_from_db()
    assert lead.owner == ops
    assert _audit(lead, "claim").changes["owner"] == [None, ops.pk]
    with pytest.raises(Conflict) as exc:
        services.lead_claim(actor=ops2, lead=lead)
    assert exc.value.code == "already_claimed" and "运营小王" in exc.value.message
    with pytest.raises(Conflict):
        services.lead_claim(actor=ops, lead=lead)


def test_claim_needs_the_permission(devops):
    with pytest.raises(Forbidden):
        services.lead_claim(actor=devops, lead=make_lead())


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_one_wins_the_others_get_409():
    specialists = [make_staff(f"racer{i}", "ops") for i in range(4)]
    lead = make_lead()
    barrier = threading.Barrier(len(specialists))
    outcomes: dict[str, list] = {"won": [], "conflict": [], "other": []}

    def claim(user):
        try:
            barrier.wait()
            services.lead_claim(actor=user, lead=lead)
            outcomes["won"].append(user.pk)
        except Conflict:
            outcomes["conflict"].append(user.pk)
        except Exception as exc:  # recorded and asserted below
            outcomes["other"].append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(u,)) for u in specialists]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes["other"] == []
    assert len(outcomes["won"]) == 1 and len(outcomes["conflict"]) == 3
    lead.refresh_from_db()
    assert lead.owner_id == outcomes["won"][0]
    assert AuditLog.objects.filter(action="claim", object_id=str(lead.pk)).count() == 1


# --- Assign ------------------------------------------------------------------------------


def test_bulk_assign_writes_audit_rows_in_one_statement(manager, ops, ops2):
    leads = [make_lead() for _ in range(3)] + [make_lead(owner=ops)]
    with CaptureQueriesContext(connection) as ctx:
        changed = services.lead_assign(actor=manager, leads=leads, owner=ops)
    assert changed == 3  # the fourth already was ops's
    inserts = [q for q in ctx.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1 and "audit_auditlog" in inserts[0]["sql"]
    assert Lead.objects.filter(owner=ops).count() == 4
    rows = AuditLog.objects.filter(action="assign")
    assert rows.count() == 3 and {r.changes["owner"][1] for r in rows} == {ops.pk}
    services.lead_assign(actor=manager, leads=leads[:2], owner=None)
    assert Lead.objects.filter(owner__isnull=True).count() == 2
    services.lead_assign(actor=manager, leads=leads[:1], owner=ops2)
    assert AuditLog.objects.filter(action="assign", object_id=str(leads[0].pk)).count() == 3


def test_only_managers_assign_and_only_to_staff_who_work_on_leads(ops, manager, devops, nobody):
    lead = make_lead()
    with pytest.raises(Forbidden):
        services.lead_assign(actor=ops, leads=[lead], owner=ops)
    for unsuitable in (devops, nobody):
        with pytest.raises(ValidationFailed) as exc:
            services.lead_assign(actor=manager, leads=[lead], owner=unsuitable)
        assert "负责人" in exc.value.message
    lead.refresh_from_db()
    assert lead.owner is None


# --- Follow-ups and status moves ---------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "status"),
    [
        ("interested", Status.INTERESTED),
        ("considering", Status.FOLLOWING),
        ("no_answer", Status.NEW),
    ],
)
def test_follow_up_moves_the_status_by_its_result(ops, result, status):
    lead = make_lead(owner=ops)
    later = timezone.now() + dt.timedelta(days=3)
    follow_up = _follow(lead, ops, result, notes="聊了十分钟", next_follow_up_at=later)
    lead.refresh_from_db()
    assert lead.status == status
    assert lead.follow_up_count == 1 and lead.last_follow_up_at == follow_up.at
    assert lead.next_follow_up_at == later == follow_up.next_follow_up_at
    assert follow_up.actor == ops and follow_up.notes == "聊了十分钟"
    row = _audit(lead, "follow_up")
    assert row.changes["follow_up_count"] == [0, 1]
    assert ("status" in row.changes) == (status != Status.NEW)
    assert row.message.startswith("电话：")


def test_no_answer_keeps_the_status_and_retries_in_a_day(ops):
    lead = make_lead(owner=ops)
    _follow(lead, ops, "considering")
    before = timezone.now()
    _follow(lead, ops, "no_answer")
    lead.refresh_from_db()
    assert lead.status == Status.FOLLOWING and lead.follow_up_count == 2
    expected = before + dt.timedelta(days=1)
    assert abs((lead.next_follow_up_at - expected).total_seconds()) < 5


def test_not_interested_needs_a_reason_and_a_note_for_other(ops):
    lead = make_lead(owner=ops, next_follow_up_at=timezone.now() + dt.timedelta(days=1))
    with pytest.raises(ValidationFailed) as exc:
        _follow(lead, ops, "not_interested")
    assert set(exc.value.fields) == {"lost_reason"}
    with pytest.raises(ValidationFailed) as exc:
        _follow(lead, ops, "not_interested", lost_reason="other")
    assert set(exc.value.fields) == {"lost_note"}
    with pytest.raises(ValidationFailed):
        _follow(lead, ops, "not_interested", lost_reason="bogus")
    assert not FollowUp.objects.exists()
    _follow(lead, ops, "not_interested", lost_reason="other", lost_note="只做写字楼")
    lead.refresh_from_db()
    assert lead.status == Status.NOT_INTERESTED
    assert (lead.lost_reason, lead.lost_note) == ("other", "只做写字楼")
    assert lead.next_follow_up_at is None


def test_closed_and_converted_leads_refuse_follow_ups(ops):
    closed = make_lead(owner=ops)
    services.lead_close(actor=ops, lead=closed, reason="has_system")
    with pytest.raises(Conflict) as exc:
        _follow(closed, ops, "interested")
    assert exc.value.status == 409 and exc.value.code == "lead_closed"
    converted = make_lead(owner=ops, company="转化物业")
    services.lead_convert(actor=ops, lead=converted, data={})
    with pytest.raises(Conflict) as exc:
        _follow(converted, ops, "interested")
    assert exc.value.code == "already_converted"
    assert FollowUp.objects.count() == 0


def test_next_follow_up_must_be_in_the_future_and_choices_are_checked(ops):
    lead = make_lead(owner=ops)
    with pytest.raises(ValidationFailed) as exc:
        _follow(lead, ops, "considering", next_follow_up_at=timezone.now() - dt.timedelta(1))
    assert set(exc.value.fields) == {"next_follow_up_at"}
    with pytest.raises(ValidationFailed) as exc:
        _follow(lead, ops, "maybe")
    assert set(exc.value.fields) == {"result"}
    with pytest.raises(ValidationFailed) as exc:
        _follow(lead, ops, "interested", method="fax")
    assert set(exc.value.fields) == {"method"}
    lead.refresh_from_db()
    assert lead.follow_up_count == 0


def test_follow_up_on_a_pool_lead_hands_it_to_the_caller(ops, devops):
    lead = make_lead()
    _follow(lead, ops, "considering")
    lead.refresh_from_db()
    assert lead.owner == ops
    assert _audit(lead, "follow_up").changes["owner"] == [None, ops.pk]
    with pytest.raises(Forbidden):
        _follow(lead, devops, "considering")


# --- Close and reopen --------------------------------------------------------------------


def test_close_with_reason_then_reopen(ops):
    lead = make_lead(owner=ops)
    _follow(lead, ops, "considering", next_follow_up_at=timezone.now() + dt.timedelta(days=2))
    services.lead_close(actor=ops, lead=lead, reason="too_expensive")
    lead.refresh_from_db()
    assert lead.status == Status.NOT_INTERESTED and lead.lost_reason == "too_expensive"
    assert lead.next_follow_up_at is None
    row = _audit(lead, "close")
    assert row.message == "价格太高" and row.changes["status"] == ["following", "not_interested"]
    with pytest.raises(Conflict):
        services.lead_close(actor=ops, lead=lead, reason="no_need")
    services.lead_reopen(actor=ops, lead=lead)
    lead.refresh_from_db()
    assert lead.status == Status.NEW and lead.lost_reason == "" and lead.lost_note == ""
    assert lead.next_follow_up_at <= timezone.now()  # due for a call now
    assert _audit(lead, "reopen").changes["status"] == ["not_interested", "new"]
    with pytest.raises(Conflict) as exc:
        services.lead_reopen(actor=ops, lead=lead)
    assert exc.value.code == "not_closed"


def test_close_validates_the_reason(ops):
    lead = make_lead(owner=ops)
    with pytest.raises(ValidationFailed) as exc:
        services.lead_close(actor=ops, lead=lead, reason="")
    assert set(exc.value.fields) == {"lost_reason"}
    with pytest.raises(ValidationFailed) as exc:
        services.lead_close(actor=ops, lead=lead, reason="other", note=" ")
    assert set(exc.value.fields) == {"lost_note"}
    with pytest.raises(ValidationFailed):
        services.lead_close(actor=ops, lead=lead, reason="other", note="x" * 201)
    lead.refresh_from_db()
    assert lead.status == Status.NEW


# --- Conversion --------------------------------------------------------------------------


def test_convert_creates_the_customer_links_it_and_marks_the_lead(ops):
    lead = make_lead(owner=ops, name="孙经理", phone="13600136000", company="碧水物业")
    customer = services.lead_convert(actor=ops, lead=lead, data={"email": "a@example.com"})
    assert (customer.contact_name, customer.contact_phone) == ("孙经理", "13600136000")
    assert customer.name == "碧水物业" and customer.email == "a@example.com"
    assert customer.owner == ops
    lead.refresh_from_db()
    assert lead.customer == customer and lead.status == Status.CONVERTED
    assert lead.converted_at is not None and lead.next_follow_up_at is None
    row = _audit(lead, "convert")
    assert row.changes["status"][1] == "converted" and customer.enterprise_no in row.message
    assert _audit(customer, "create").actor == ops


def test_a_lead_converts_once(ops):
    lead = make_lead(owner=ops, company="一次物业")
    services.lead_convert(actor=ops, lead=lead, data={})
    with pytest.raises(Conflict) as exc:
        services.lead_convert(actor=ops, lead=lead, data={})
    assert exc.value.status == 409 and exc.value.code == "already_converted"
    assert Customer.objects.count() == 1


def test_convert_data_overrides_and_bad_data_changes_nothing(ops):
    lead = make_lead(owner=ops, company="申请里的名字")
    with pytest.raises(ValidationFailed) as exc:
        services.lead_convert(actor=ops, lead=lead, data={"license_no": "91110000600037341X"})
    assert "license_no" in exc.value.fields
    lead.refresh_from_db()
    assert lead.status == Status.NEW and lead.customer is None
    assert not Customer.objects.exists()
    customer = services.lead_convert(
        actor=ops, lead=lead, data={"name": "营业执照上的名字", "license_no": unique_uscc()}
    )
    assert customer.name == "营业执照上的名字" and customer.contact_name == lead.name


def test_convert_refuses_closed_leads_and_needs_both_permissions(ops, devops):
    lead = make_lead(owner=ops)
    services.lead_close(actor=ops, lead=lead, reason="not_property")
    with pytest.raises(Conflict) as exc:
        services.lead_convert(actor=ops, lead=lead, data={})
    assert exc.value.code == "lead_closed"
    with pytest.raises(Forbidden):
        services.lead_convert(actor=devops, lead=make_lead(), data={})


def test_converted_customer_goes_to_the_leads_owner_or_the_converter(manager, ops):
    specialists_lead = make_lead(owner=ops)
    customer = services.lead_convert(actor=manager, lead=specialists_lead, data={})
    assert customer.owner == ops
    pool_lead = make_lead()
    customer = services.lead_convert(actor=ops, lead=pool_lead, data={})
    pool_lead.refresh_from_db()
    assert customer.owner == ops and pool_lead.owner == ops
    chosen = services.lead_convert(actor=manager, lead=make_lead(), data={}, owner=None)
    assert chosen.owner is None


@pytest.mark.django_db(transaction=True)
def test_concurrent_conversions_make_one_customer():
    staff = [make_staff(f"conv{i}", "ops_manager") for i in range(3)]
    lead = make_lead(company="并发物业")
    barrier = threading.Barrier(len(staff))
    outcomes: dict[str, list] = {"won": [], "conflict": [], "other": []}

    def convert(user):
        try:
            barrier.wait()
            outcomes["won"].append(services.lead_convert(actor=user, lead=lead, data={}).pk)
        except Conflict:
            outcomes["conflict"].append(user.pk)
        except Exception as exc:  # recorded and asserted below
            outcomes["other"].append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=convert, args=(u,)) for u in staff]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes["other"] == []
    assert len(outcomes["won"]) == 1 and len(outcomes["conflict"]) == 2
    assert Customer.objects.count() == 1
    lead.refresh_from_db()
    assert lead.customer_id == outcomes["won"][0]


# --- QR channels -------------------------------------------------------------------------


def test_qr_channels_are_managed_by_managers_with_audit(manager, ops, devops):
    with pytest.raises(Forbidden):
        services.qr_channel_create(actor=ops, name="海报")
    with pytest.raises(ValidationFailed) as exc:
        services.qr_channel_create(actor=manager, name=" ")
    assert "name" in exc.value.fields
    with pytest.raises(ValidationFailed):
        services.qr_channel_create(actor=manager, name="海报", owner=devops)
    channel = services.qr_channel_create(
        actor=manager, name=" 物业展会海报 ", campaign="2026 物博会", owner=ops
    )
    assert channel.name == "物业展会海报" and channel.owner == ops and len(channel.code) == 8
    assert _audit(channel, "create").actor == manager
    code = channel.code
    services.qr_channel_update(
        actor=manager, channel=channel, data={"name": "地铁海报", "owner": None, "is_active": False}
    )
    channel.refresh_from_db()
    assert (channel.name, channel.owner, channel.is_active, channel.code) == (
        "地铁海报",
        None,
        False,
        code,
    )
    assert _audit(channel, "update").changes["name"] == ["物业展会海报", "地铁海报"]
    with pytest.raises(ValidationFailed):
        services.qr_channel_update(actor=manager, channel=channel, data={"code": "X"})
    with pytest.raises(Forbidden):
        services.qr_channel_update(actor=ops, channel=channel, data={"name": "x"})


def test_apply_url_points_at_the_public_page(settings):
    settings.PUBLIC_BASE_URL = "https://join.example.com/"
    assert services.apply_url("AB12CD34") == "https://join.example.com/apply/?ch=qr&ref=AB12CD34"


def test_registrations_through_a_qr_channel_are_attributed(ops, manager):
    channel = services.qr_channel_create(actor=manager, name="海报", owner=ops)
    lead = services.lead_register(
        name="扫码", phone=new_phone(), channel="qr", channel_ref=channel.code
    ).lead
    assert lead.qr_channel == channel and lead.owner == ops
    assert QrChannel.objects.get(pk=channel.pk).leads.count() == 1


def test_customer_duplicate_flags_use_one_query(ops, manager):
    from apps.leads.selectors import duplicate_customers

    by_phone = make_customer(actor=ops, contact_phone="13500135000", name="甲")
    by_name = make_customer(actor=manager, owner=make_staff("x1", "ops"), name="乙物业")
    leads = [
        make_lead(owner=ops, phone="13500135000"),
        make_lead(owner=ops, company="乙物业"),
        make_lead(owner=ops, company="无关物业"),
    ]
    with CaptureQueriesContext(connection) as ctx:
        index = duplicate_customers(leads, viewer=ops)
    assert len(ctx.captured_queries) == 1
    first, second = index.get(leads[0].pk), index.get(leads[1].pk)
    assert [d.customer.pk for d in first] == [by_phone.pk] and first[0].by_phone
    assert first[0].visible  # ops owns it
    assert [d.customer.pk for d in second] == [by_name.pk] and second[0].by_company
    assert not second[0].visible  # another specialist's customer: flagged, not linked
    assert index.get(leads[2].pk) == []
