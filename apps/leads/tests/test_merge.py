"""合并重复的客户申请 and 客户: follow-ups, contracts, history and channel attribution carried
over to the survivor, audited on both; refusals (itself, both converted, data sources)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.audit.models import AuditLog
from apps.audit.selectors import history
from apps.contracts.models import Contract
from apps.contracts.services import contract_create
from apps.core.errors import Conflict, Forbidden
from apps.customers.merging import customer_merge
from apps.customers.models import Customer
from apps.customers.tests.factories import make_customer
from apps.datasources.tests.factories import make_datasource
from apps.leads import services
from apps.leads.merging import lead_merge
from apps.leads.models import Channel, FollowUp, Lead, LeadClaim

from .factories import make_lead

pytestmark = pytest.mark.django_db


def follow(lead, actor, result=FollowUp.Result.CONSIDERING, notes=""):
    return services.lead_follow_up(
        actor=actor, lead=lead, method=FollowUp.Method.PHONE, result=result, notes=notes
    )


def test_a_lead_merge_carries_follow_ups_attribution_and_history(manager, ops):
    from apps.leads.services import qr_channel_create

    poster = qr_channel_create(actor=manager, name="博览会海报")
    older = make_lead(
        channel=Channel.QR,
        company="阳光物业",
        registered_ago=dt.timedelta(days=10),
        qr_channel=poster,
        channel_ref=poster.code,
        province="440000",
    )
    newer = make_lead(channel=Channel.OFFLINE, owner=ops, name="阳光 李总")
    services.lead_claim(actor=ops, lead=older)
    follow(older, ops, notes="第一次电话")
    follow(older, ops, result=FollowUp.Result.INTERESTED, notes="约了演示")
    follow(newer, ops, notes="线下见过")

    kept = lead_merge(actor=manager, keep=newer, drop=older)
    assert not Lead.objects.filter(pk=older.pk).exists()
    kept.refresh_from_db()
    assert FollowUp.objects.filter(lead=kept).count() == 3 and kept.follow_up_count == 3
    # The earliest registration's attribution, and what the survivor lacked.
    assert (kept.channel, kept.qr_channel_id, kept.channel_ref) == ("qr", poster.pk, poster.code)
    assert kept.registered_at == older.registered_at and kept.repeat_count == 1
    assert (kept.company, kept.province) == ("阳光物业", "440000")
    assert older.display_phone in kept.notes and f"合并自 #{older.pk}" in kept.notes
    assert LeadClaim.objects.filter(lead=kept).count() == 1  # the day's claim still counts
    # Both are audited; the merged lead's rows now show in the survivor's history.
    merge = AuditLog.objects.get(action="merge", object_id=str(kept.pk), content_type__model="lead")
    assert f"#{older.pk}" in merge.message and "回访 2 条" in merge.message
    assert merge.changes["channel"] == ["offline", "qr"]
    gone = AuditLog.objects.get(
        action="merged_into", object_id=str(older.pk), content_type__model="lead"
    )
    assert gone.changes["phone"][0] == older.phone
    actions = [row.log.action for row in history(kept, viewer=manager)]
    assert {"merge", "merged_into", "claim", "follow_up"} <= set(actions)


def test_merging_a_converted_lead_carries_its_customer(manager, ops):
    converted = make_lead(company="甲物业")
    customer = services.lead_convert(actor=manager, lead=converted, data={})
    other = make_lead(company="甲物业")
    kept = lead_merge(actor=manager, keep=other, drop=converted)
    kept.refresh_from_db()
    assert kept.customer_id == customer.pk and kept.status == Lead.Status.CONVERTED


def test_lead_merge_refusals(manager, ops):
    a, b = make_lead(), make_lead()
    with pytest.raises(Conflict) as refused:
        lead_merge(actor=manager, keep=a, drop=a)
    assert refused.value.code == "merge_refused"
    with pytest.raises(Forbidden):
        lead_merge(actor=ops, keep=a, drop=b)  # 运营专员 may not merge
    services.lead_convert(actor=manager, lead=a, data={})
    services.lead_convert(actor=manager, lead=b, data={})
    with pytest.raises(Conflict) as refused:
        lead_merge(actor=manager, keep=a, drop=b)
    assert "请合并对应的客户" in refused.value.message
    assert Lead.objects.count() == 2


def _contract(actor, customer):
    return contract_create(
        actor=actor,
        customer=customer,
        data={
            "bank_name": "招商银行",
            "legal_representative": "李四",
            "account_no": "755912345610001",
            "start_date": timezone.localdate().isoformat(),
            "end_date": (timezone.localdate() + dt.timedelta(days=300)).isoformat(),
            "communities": 2,
            "amount": "1000.00",
            "party_a_contact": "王经理",
            "party_a_phone": "13800138000",
            "party_b_contact": "小李",
            "party_b_phone": "0755-86001234",
        },
        scan=SimpleUploadedFile("c.pdf", b"%PDF-1.4 test", content_type="application/pdf"),
    )


def _complete(actor, **fields):
    from apps.customers.services import customer_update

    customer = make_customer(actor=actor, complete=True, **fields)
    scan = SimpleUploadedFile("l.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    return customer_update(actor=actor, customer=customer, data={}, license_scan=scan)


def test_a_customer_merge_carries_contracts_leads_and_history(manager, ops):
    keep = make_customer(actor=ops, name="阳光物业（新）")
    drop = _complete(manager, name="阳光物业")
    contract = _contract(manager, drop)
    kept_lead, dropped_lead = make_lead(), make_lead()
    follow(dropped_lead, ops, notes="谈过价格")
    # Arrange: keep has its own lead, drop has another — both converted.
    Lead.objects.filter(pk=kept_lead.pk).update(customer=keep, status=Lead.Status.CONVERTED)
    Lead.objects.filter(pk=dropped_lead.pk).update(customer=drop, status=Lead.Status.CONVERTED)

    merged = customer_merge(actor=manager, keep=keep, drop=drop)
    assert not Customer.objects.filter(pk=drop.pk).exists()
    merged.refresh_from_db()
    assert Contract.objects.get(pk=contract.pk).customer_id == keep.pk
    # The leads are merged too: one lead left, linked to the survivor.
    assert list(Lead.objects.filter(customer=keep).values_list("pk", flat=True)) == [kept_lead.pk]
    assert not Lead.objects.filter(pk=dropped_lead.pk).exists()
    assert FollowUp.objects.get().lead_id == kept_lead.pk
    # What keep lacked comes from drop; its own name stays.
    assert merged.name == "阳光物业（新）" and merged.license_no == drop.license_no
    assert merged.address == drop.address and merged.owner == ops
    row = AuditLog.objects.get(
        action="merge", object_id=str(keep.pk), content_type__model="customer"
    )
    assert drop.enterprise_no in row.message and "合同 1 份" in row.message
    contract_row = AuditLog.objects.get(
        action="update", object_id=str(contract.pk), content_type__model="contract"
    )
    assert contract_row.changes["customer"] == [drop.pk, keep.pk]
    assert "merged_into" in [r.log.action for r in history(merged, viewer=manager)]


def test_customer_merge_refusals_around_data_sources(manager, devops):
    a, b = make_customer(actor=manager), make_customer(actor=manager)
    make_datasource(a, actor=devops)
    with pytest.raises(Conflict) as refused:
        customer_merge(actor=manager, keep=b, drop=a)
    assert "请以它为保留的客户" in refused.value.message
    make_datasource(b, actor=devops)
    with pytest.raises(Conflict) as refused:
        customer_merge(actor=manager, keep=a, drop=b)
    assert "两个客户都已配置数据源" in refused.value.message
    assert Customer.objects.filter(pk__in=[a.pk, b.pk]).count() == 2
    c = make_customer(actor=manager)
    merged = customer_merge(actor=manager, keep=a, drop=c)  # the survivor's data source stays
    assert merged.pk == a.pk and not Customer.objects.filter(pk=c.pk).exists()


def test_customer_merge_needs_the_permission(ops):
    a, b = make_customer(actor=ops), make_customer(actor=ops)
    with pytest.raises(Forbidden):
        customer_merge(actor=ops, keep=a, drop=b)


def test_the_merge_pages_find_compare_and_merge(manager, ops, client_for):
    a = make_lead(company="乙物业", name="钱总")
    b = make_lead(company="乙物业", name="钱经理")
    client = client_for(manager)
    page = client.get(f"/leads/{a.pk}/merge/").content.decode()
    assert f"?other={b.pk}" in page  # suggested: the same company
    page = client.get(f"/leads/{a.pk}/merge/", {"other": b.display_phone}).content.decode()
    assert 'id="merge-compare"' in page and "钱经理" in page
    page = client.get(f"/leads/{a.pk}/merge/", {"other": "13000000000"}).content.decode()
    assert "找不到该客户申请" in page
    response = client.post(f"/leads/{a.pk}/merge/", {"other": str(b.pk), "keep": "other"})
    assert response.status_code == 302 and response["Location"] == f"/leads/{b.pk}/"
    assert not Lead.objects.filter(pk=a.pk).exists()
    assert client_for(ops).get(f"/leads/{b.pk}/merge/").status_code == 403

    first = make_customer(actor=manager, name="丙物业", contact_phone="13700000001")
    second = make_customer(actor=manager, name="丙物业")
    page = client.get(f"/customers/{first.pk}/merge/").content.decode()
    assert f"?other={second.enterprise_no}" in page
    response = client.post(
        f"/customers/{first.pk}/merge/", {"other": second.enterprise_no.lower(), "keep": "this"}
    )
    assert response.status_code == 302 and response["Location"] == f"/customers/{first.pk}/"
    assert not Customer.objects.filter(pk=second.pk).exists()
    page = client.get(f"/customers/{first.pk}/merge/", {"other": first.enterprise_no})
    assert "不能把客户与它自己合并" in page.content.decode()


def test_a_refused_merge_is_shown_on_the_page(manager, devops, client_for):
    a, b = make_customer(actor=manager), make_customer(actor=manager)
    make_datasource(a, actor=devops)
    make_datasource(b, actor=devops)
    page = client_for(manager).post(f"/customers/{a.pk}/merge/", {"other": b.enterprise_no})
    assert page.status_code == 200 and "两个客户都已配置数据源" in page.content.decode()
