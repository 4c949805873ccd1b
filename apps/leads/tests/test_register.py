import threading

import pytest
from django.db import connection

from apps.audit.models import AuditLog
from apps.core.errors import ValidationFailed
from apps.leads.models import Channel, Lead, QrChannel
from apps.leads.services import lead_register


@pytest.mark.django_db
def test_register_normalises_and_audits():
    result = lead_register(
        name=" 王经理 ", phone="138 0013 8000", company="万家物业", channel="wechat"
    )
    lead = result.lead
    assert result.created
    assert (lead.name, lead.phone, lead.channel) == ("王经理", "+8613800138000", "wechat")
    assert lead.status == Lead.Status.NEW and lead.owner is None
    assert AuditLog.objects.get(action="apply").object_id == str(lead.pk)


@pytest.mark.django_db
def test_repeat_application_is_recorded_not_duplicated():
    first = lead_register(name="王", phone="13800138000").lead
    again = lead_register(name="王", phone="+86 13800138000", company="新公司", channel="qr")
    assert not again.created and again.lead.pk == first.pk
    lead = Lead.objects.get()
    assert lead.repeat_count == 1 and lead.company == "新公司"
    assert AuditLog.objects.filter(action="repeat_apply").count() == 1


@pytest.mark.django_db
def test_repeat_reopens_a_lead_closed_as_not_interested():
    lead = lead_register(name="王", phone="13800138000").lead
    Lead.objects.filter(pk=lead.pk).update(status=Lead.Status.NOT_INTERESTED, lost_reason="other")
    lead_register(name="王", phone="13800138000")
    lead.refresh_from_db()
    assert lead.status == Lead.Status.NEW and lead.lost_reason == ""


@pytest.mark.django_db
def test_qr_channel_attribution_assigns_its_owner(ops):
    qr = QrChannel.objects.create(name="物业展会海报", owner=ops)
    lead = lead_register(name="李", phone="13900139000", channel="qr", channel_ref=qr.code).lead
    assert lead.qr_channel == qr and lead.owner == ops and lead.channel_ref == qr.code


@pytest.mark.django_db
def test_public_channel_cannot_claim_offline_and_ref_is_sanitised():
    lead = lead_register(
        name="李", phone="13900139000", channel="offline", channel_ref="<x>ad-01"
    ).lead
    assert lead.channel == Channel.WEB and lead.channel_ref == "xad-01"


@pytest.mark.django_db
def test_bad_input_names_the_fields():
    with pytest.raises(ValidationFailed) as exc:
        lead_register(name="", phone="12345", company="x" * 101)
    assert set(exc.value.fields) == {"name", "phone", "company"}
    assert "姓名" in exc.value.message and "电话" in exc.value.message


@pytest.mark.django_db(transaction=True)
def test_concurrent_applications_for_one_phone_make_one_lead():
    errors = []

    def apply():
        try:
            lead_register(name="并发", phone="13700137000")
        except Exception as exc:  # recorded and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=apply) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    lead = Lead.objects.get()
    assert lead.repeat_count == 9
