"""The lead endpoints of the REST API (/api/v1/leads…): every operation and its status
codes, data scope, the error format, and the audit rows writes leave."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.tests.factories import make_staff, make_token
from apps.api.tests.helpers import API, assert_error, bearer, call
from apps.audit.models import AuditLog
from apps.customers.models import Customer
from apps.customers.tests.factories import make_customer
from apps.leads import services
from apps.leads.models import FollowUp, Lead

from .factories import make_lead

pytestmark = pytest.mark.django_db

ISO_LOCAL = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")
DAY = dt.timedelta(days=1)


def _audit(lead: Lead, action: str) -> AuditLog:
    return AuditLog.objects.get(
        content_type__app_label="leads", object_id=str(lead.pk), action=action
    )


# --- List --------------------------------------------------------------------------------


def test_list_shows_own_and_pool_with_fields(client_for, ops, ops2):
    mine = make_lead(owner=ops, name="吴", company="吴氏物业", channel="wechat")
    pool = make_lead(name="郑", registered_ago=2 * DAY)
    make_lead(owner=ops2)
    body = client_for(ops).get(f"{API}/leads").json()
    assert body["count"] == 2 and body["pages"] == 1 and body["page_size"] == 20
    items = {item["id"]: item for item in body["items"]}
    assert set(items) == {mine.pk, pool.pk}
    item = items[mine.pk]
    assert item["phone"] == mine.display_phone and item["company"] == "吴氏物业"
    assert item["channel"] == "wechat" and item["channel_label"] == "微信"
    assert item["status"] == "new" and item["status_label"] == "待回访"
    assert item["owner"] == {"id": ops.pk, "name": "运营小王"}
    assert ISO_LOCAL.match(item["registered_at"]) and item["overdue"] is False
    assert items[pool.pk]["owner"] is None and items[pool.pk]["overdue"] is True
    assert item["waited_seconds"] is None and item["duplicates"] == []


def test_list_filters_and_duplicates(client_for, manager, ops):
    customer = make_customer(actor=manager, name="重名物业")
    a = make_lead(owner=ops, company="重名物业", channel="qr")
    b = make_lead(registered_ago=3 * DAY)
    c = make_lead(owner=manager, channel="offline")
    services.lead_close(actor=manager, lead=c, reason="no_need")
    client = client_for(manager)

    def ids(query: str) -> list[int]:
        response = client.get(f"{API}/leads?{query}")
        assert response.status_code == 200, response.content
        return sorted(item["id"] for item in response.json()["items"])

    assert ids("q=重名") == [a.pk]
    assert ids(f"q={b.display_phone}") == [b.pk]
    assert ids("status=open") == sorted([a.pk, b.pk])
    assert ids("status=not_interested") == [c.pk]
    assert ids("channel=offline") == [c.pk]
    assert ids("owner=none") == [b.pk]
    assert ids(f"owner={ops.pk}") == [a.pk]
    assert ids("overdue=true") == [b.pk]
    today = timezone.localdate().isoformat()
    assert ids(f"date_from={today}") == sorted([a.pk, c.pk])
    assert ids(f"date_to={(timezone.localdate() - DAY).isoformat()}") == [b.pk]
    item = client.get(f"{API}/leads?q=重名").json()["items"][0]
    assert item["duplicates"] == [
        {
            "customer": {
                "id": customer.pk,
                "enterprise_no": customer.enterprise_no,
                "name": "重名物业",
            },
            "by_phone": False,
            "by_company": True,
        }
    ]
    for bad in ("status=x", "channel=sms", "owner=alice", "date_from=2026-13-01", "sort=phone"):
        assert_error(client.get(f"{API}/leads?{bad}"), 422, "validation_error")


def test_to_call_view_is_oldest_first_with_waited_seconds(client_for, ops):
    newer = make_lead(owner=ops, registered_ago=dt.timedelta(hours=3))
    older = make_lead(owner=ops, registered_ago=2 * DAY)
    services.lead_follow_up(
        actor=ops, lead=make_lead(owner=ops), method="phone", result="interested"
    )
    body = client_for(ops).get(f"{API}/leads?to_call=true").json()
    assert [i["id"] for i in body["items"]] == [older.pk, newer.pk]
    waited = [i["waited_seconds"] for i in body["items"]]
    assert abs(waited[0] - 2 * 86400) < 60 and abs(waited[1] - 3 * 3600) < 60


def test_list_query_count_does_not_grow(client_for, manager, ops):
    for i in range(3):
        make_lead(owner=[ops, None, manager][i % 3], company=f"物业{i}")
    client = client_for(manager)
    with CaptureQueriesContext(connection) as few:
        assert client.get(f"{API}/leads").status_code == 200
    for i in range(30):
        lead = make_lead(owner=[ops, None, manager][i % 3], company=f"物业{i + 3}")
        if i % 4 == 0:
            make_customer(actor=manager, owner=None, name=lead.company)
    with CaptureQueriesContext(connection) as many:
        body = client.get(f"{API}/leads?page_size=50").json()
    assert body["count"] == 33 and any(i["duplicates"] for i in body["items"])
    assert len(many.captured_queries) == len(few.captured_queries) <= 8


# --- Create, detail, patch ---------------------------------------------------------------


def test_offline_entry(client_for, ops):
    response = call(
        client_for(ops),
        "post",
        f"{API}/leads",
        {"name": "陈总", "phone": "+86 135-0013-5000", "company": "陈氏物业", "notes": "展会"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["channel"] == "offline" and body["owner"]["id"] == ops.pk
    assert body["phone"] == "13500135000" and body["created_by"]["id"] == ops.pk
    assert body["notes"] == "展会" and body["customer"] is None
    assert _audit(Lead.objects.get(pk=body["id"]), "create").actor == ops


def test_offline_entry_errors(client_for, ops, devops):
    make_lead(phone="13500135000", name="原申请人")
    client = client_for(ops)
    body = assert_error(
        call(client, "post", f"{API}/leads", {"name": "x", "phone": "13500135000"}),
        409,
        "duplicate_lead",
    )
    assert "原申请人" in body["message"] and "phone" in body["fields"]
    body = assert_error(
        call(client, "post", f"{API}/leads", {"name": "", "phone": "1"}), 422, "validation_error"
    )
    assert set(body["fields"]) == {"name", "phone"} and "姓名" in body["message"]
    assert_error(call(client, "post", f"{API}/leads", {"name": "x"}), 422, "validation_error")
    assert_error(
        call(client, "post", f"{API}/leads", {"name": "x", "phone": "13600136000", "owner": 1}),
        422,
        "validation_error",
    )
    assert_error(
        call(client_for(devops), "post", f"{API}/leads", {"name": "x", "phone": "13600136000"}),
        403,
        "forbidden",
    )


def test_detail_scope(client_for, ops, ops2, manager):
    mine, theirs = make_lead(owner=ops), make_lead(owner=ops2)
    body = client_for(ops).get(f"{API}/leads/{mine.pk}").json()
    assert body["id"] == mine.pk and body["lost_reason"] == "" and body["repeat_count"] == 0
    assert_error(client_for(ops).get(f"{API}/leads/{theirs.pk}"), 404, "not_found")
    assert_error(client_for(ops).get(f"{API}/leads/999999"), 404, "not_found")
    assert client_for(manager).get(f"{API}/leads/{theirs.pk}").status_code == 200


def test_patch(client_for, ops, ops2):
    lead = make_lead(owner=ops, company="旧")
    other = make_lead(owner=ops2)
    client = client_for(ops)
    response = call(client, "patch", f"{API}/leads/{lead.pk}", {"company": "新", "notes": "备"})
    assert response.status_code == 200 and response.json()["company"] == "新"
    assert _audit(lead, "update").changes["company"] == ["旧", "新"]
    assert_error(
        call(client, "patch", f"{API}/leads/{lead.pk}", {"phone": other.display_phone}),
        409,
        "duplicate_lead",
    )
    assert_error(
        call(client, "patch", f"{API}/leads/{lead.pk}", {"status": "converted"}),
        422,
        "validation_error",
    )
    assert_error(call(client, "patch", f"{API}/leads/{other.pk}", {"company": "x"}), 404)


# --- Follow-ups --------------------------------------------------------------------------


def test_follow_ups_create_and_list(client_for, ops):
    lead = make_lead(owner=ops)
    client = client_for(ops)
    later = (timezone.localtime() + 2 * DAY).replace(microsecond=0)
    response = call(
        client,
        "post",
        f"{API}/leads/{lead.pk}/follow-ups",
        {
            "method": "phone",
            "result": "considering",
            "notes": "要方案",
            "next_follow_up_at": later.isoformat(),
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["result_label"] == "考虑中" and body["actor"]["id"] == ops.pk
    assert body["lead"]["status"] == "following" and body["lead"]["follow_up_count"] == 1
    assert body["next_follow_up_at"] == later.isoformat()
    call(
        client,
        "post",
        f"{API}/leads/{lead.pk}/follow-ups",
        {"method": "wechat", "result": "no_answer"},
    )
    page = client.get(f"{API}/leads/{lead.pk}/follow-ups").json()
    assert page["count"] == 2 and [i["result"] for i in page["items"]] == [
        "no_answer",
        "considering",
    ]
    assert AuditLog.objects.filter(action="follow_up", object_id=str(lead.pk)).count() == 2


def test_follow_up_errors(client_for, ops, ops2):
    lead = make_lead(owner=ops)
    client = client_for(ops)
    url = f"{API}/leads/{lead.pk}/follow-ups"
    body = assert_error(
        call(client, "post", url, {"method": "phone", "result": "not_interested"}),
        422,
        "validation_error",
    )
    assert set(body["fields"]) == {"lost_reason"} and "无意向原因" in body["message"]
    past = (timezone.localtime() - DAY).isoformat()
    body = assert_error(
        call(
            client,
            "post",
            url,
            {"method": "phone", "result": "interested", "next_follow_up_at": past},
        ),
        422,
    )
    assert set(body["fields"]) == {"next_follow_up_at"}
    assert_error(call(client, "post", url, {"method": "fax", "result": "interested"}), 422)
    response = call(
        client,
        "post",
        url,
        {"method": "phone", "result": "not_interested", "lost_reason": "other", "lost_note": "x"},
    )
    assert response.status_code == 201 and response.json()["lead"]["status"] == "not_interested"
    assert_error(
        call(client, "post", url, {"method": "phone", "result": "interested"}), 409, "lead_closed"
    )
    other = make_lead(owner=ops2)
    assert_error(
        call(
            client,
            "post",
            f"{API}/leads/{other.pk}/follow-ups",
            {"method": "phone", "result": "interested"},
        ),
        404,
    )
    assert_error(client.get(f"{API}/leads/{other.pk}/follow-ups"), 404)
    assert FollowUp.objects.count() == 1


# --- Convert -----------------------------------------------------------------------------


def test_convert_once(client_for, ops):
    lead = make_lead(owner=ops, name="卫经理", phone="13400134000", company="卫氏物业")
    client = client_for(ops)
    url = f"{API}/leads/{lead.pk}/convert"
    response = call(client, "post", url, {"email": "w@example.com"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "卫氏物业" and body["contact_name"] == "卫经理"
    assert body["contact_phone"] == "13400134000" and body["email"] == "w@example.com"
    assert body["owner"]["id"] == ops.pk
    lead_body = client.get(f"{API}/leads/{lead.pk}").json()
    assert lead_body["status"] == "converted" and lead_body["customer"]["id"] == body["id"]
    assert ISO_LOCAL.match(lead_body["converted_at"])
    assert_error(call(client, "post", url, {}), 409, "already_converted")
    assert Customer.objects.count() == 1
    assert _audit(lead, "convert").actor == ops


def test_convert_errors(client_for, ops, ops2, manager, devops):
    lead = make_lead(owner=ops)
    url = f"{API}/leads/{lead.pk}/convert"
    body = assert_error(
        call(client_for(ops), "post", url, {"license_no": "91110000600037341X"}), 422
    )
    assert "license_no" in body["fields"]
    assert_error(call(client_for(ops), "post", url, {"owner_id": ops2.pk}), 403, "forbidden")
    assert_error(call(client_for(ops2), "post", url, {}), 404)
    assert_error(call(client_for(devops), "post", url, {}), 403)
    body = assert_error(call(client_for(manager), "post", url, {"owner_id": 987654}), 422)
    assert body["fields"] == {"owner_id": ["该员工不存在"]}
    assert not Customer.objects.exists()
    response = call(client_for(manager), "post", url, {"owner_id": None})
    assert response.status_code == 201 and response.json()["owner"] is None


# --- Assign, claim, close, reopen --------------------------------------------------------


def test_assign(client_for, manager, ops, devops):
    lead = make_lead()
    url = f"{API}/leads/{lead.pk}/assign"
    response = call(client_for(manager), "post", url, {"owner_id": ops.pk})
    assert response.status_code == 200 and response.json()["owner"]["id"] == ops.pk
    assert _audit(lead, "assign").changes["owner"] == [None, ops.pk]
    body = assert_error(call(client_for(manager), "post", url, {"owner_id": devops.pk}), 422)
    assert body["fields"] == {"owner_id": ["该员工不能负责客户申请"]}
    assert_error(call(client_for(manager), "post", url, {}), 422)
    assert_error(call(client_for(ops), "post", url, {"owner_id": None}), 403, "forbidden")
    response = call(client_for(manager), "post", url, {"owner_id": None})
    assert response.json()["owner"] is None


def test_claim(client_for, ops, ops2):
    lead = make_lead()
    url = f"{API}/leads/{lead.pk}/claim"
    response = call(client_for(ops), "post", url)
    assert response.status_code == 200 and response.json()["owner"]["id"] == ops.pk
    assert_error(call(client_for(ops), "post", url), 409, "already_claimed")
    assert_error(call(client_for(ops2), "post", url), 404)  # no longer in ops2's scope
    manager = make_staff("claim_mgr", "ops_manager")
    body = assert_error(call(client_for(manager), "post", url), 409, "already_claimed")
    assert "运营小王" in body["message"]


def test_close_and_reopen(client_for, ops, devops):
    lead = make_lead(owner=ops)
    client = client_for(ops)
    close, reopen = f"{API}/leads/{lead.pk}/close", f"{API}/leads/{lead.pk}/reopen"
    assert_error(call(client, "post", reopen), 409, "not_closed")
    body = assert_error(call(client, "post", close, {"reason": "other"}), 422)
    assert set(body["fields"]) == {"note"}
    assert_error(call(client, "post", close, {"reason": "cheap"}), 422)
    response = call(client, "post", close, {"reason": "has_system"})
    assert response.status_code == 200
    assert response.json()["status"] == "not_interested"
    assert response.json()["lost_reason_label"] == "已有系统"
    assert_error(call(client, "post", close, {"reason": "no_need"}), 409, "lead_closed")
    assert_error(call(client_for(devops), "post", reopen), 403)
    response = call(client, "post", reopen)
    assert response.status_code == 200 and response.json()["status"] == "new"
    assert _audit(lead, "reopen").actor == ops


def test_token_callers_act_as_their_user(manager):
    lead = make_lead()
    raw = make_token(manager)
    from django.test import Client

    response = Client().post(
        f"{API}/leads/{lead.pk}/claim", content_type="application/json", **bearer(raw)
    )
    assert response.status_code == 200 and response.json()["owner"]["id"] == manager.pk


def _every_operation(lead_id: int) -> list[tuple[str, str, dict | None]]:
    url = f"{API}/leads/{lead_id}"
    return [
        ("get", f"{API}/leads", None),
        ("post", f"{API}/leads", {"name": "x", "phone": "13600136001"}),
        ("get", url, None),
        ("patch", url, {"company": "x"}),
        ("get", f"{url}/follow-ups", None),
        ("post", f"{url}/follow-ups", {"method": "phone", "result": "interested"}),
        ("post", f"{url}/convert", {}),
        ("post", f"{url}/assign", {"owner_id": None}),
        ("post", f"{url}/claim", None),
        ("post", f"{url}/close", {"reason": "no_need"}),
        ("post", f"{url}/reopen", None),
    ]


def test_roles_without_lead_permissions_get_403_everywhere(client_for, ops, devops, nobody):
    lead = make_lead(owner=ops)
    for user in (devops, nobody):
        client = client_for(user)
        for method, path, body in _every_operation(lead.pk):
            assert_error(call(client, method, path, body), 403, "forbidden")
    lead.refresh_from_db()
    assert lead.status == Lead.Status.NEW and lead.owner == ops
    assert not AuditLog.objects.filter(
        content_type__app_label="leads", actor__in=[devops, nobody]
    ).exists()


def test_another_specialists_lead_is_404_on_every_operation(client_for, ops, ops2):
    lead = make_lead(owner=ops2)
    client = client_for(ops)
    for method, path, body in _every_operation(lead.pk)[2:]:
        assert_error(call(client, method, path, body), 404, "not_found")
    lead.refresh_from_db()
    assert lead.status == Lead.Status.NEW and lead.owner == ops2


def test_qr_channel_api_for_managers_only(client_for, manager, ops):
    from apps.audit.models import AuditLog

    mgr = client_for(manager)
    response = mgr.post(
        "/api/v1/qr-channels",
        {"name": "展会海报", "campaign": "物博会", "owner_id": ops.pk},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["apply_url"].endswith(f"/apply/?ch=qr&ref={body['code']}")
    assert body["owner"]["id"] == ops.pk and body["registrations"] == 0
    response = mgr.patch(
        f"/api/v1/qr-channels/{body['id']}",
        {"is_active": False, "code": "HACK"},
        content_type="application/json",
    )
    assert response.status_code == 422 and "code" in response.json()["fields"]
    response = mgr.patch(
        f"/api/v1/qr-channels/{body['id']}", {"is_active": False}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert [c["id"] for c in mgr.get("/api/v1/qr-channels").json()] == [body["id"]]
    assert AuditLog.objects.filter(action="update", object_repr__contains="展会海报").exists()
    assert client_for(ops).get("/api/v1/qr-channels").status_code == 403
    response = mgr.post("/api/v1/qr-channels", {"name": ""}, content_type="application/json")
    assert response.status_code == 422 and "name" in response.json()["fields"]
