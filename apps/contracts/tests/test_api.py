"""The contract endpoints of the REST API (/api/v1/contracts… and
/api/v1/customers/{id}/contracts): the completeness gate, wire formats, filters, data
scope, scans and audit rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.api.tests.helpers import API, CONTRACT_BODY, PDF_BYTES, assert_error, call, upload
from apps.audit.models import AuditLog
from apps.contracts.models import Contract
from apps.contracts.tests.factories import make_contract
from apps.customers.tests.factories import make_customer

pytestmark = pytest.mark.django_db


def _audit(contract: Contract, action: str) -> AuditLog:
    return AuditLog.objects.get(
        content_type__app_label="contracts", object_id=str(contract.pk), action=action
    )


def _days(n: int) -> str:
    return (timezone.localdate() + dt.timedelta(days=n)).isoformat()


# --- Create (through the customer) -----------------------------------------------------


def test_create_contract_for_complete_customer(ops, client_for):
    customer = make_customer(actor=ops, complete=True)
    body = {**CONTRACT_BODY, "amount": "128000.50"}
    response = call(client_for(ops), "post", f"{API}/customers/{customer.pk}/contracts", body)
    assert response.status_code == 201, response.content
    out = response.json()
    assert out["customer"] == {
        "id": customer.pk,
        "enterprise_no": customer.enterprise_no,
        "name": customer.name,
    }
    assert out["amount"] == "128000.50"
    assert out["start_date"] == "2026-01-01" and out["end_date"] == "2026-12-31"
    assert out["account_no"] == "755912345610801"
    assert out["status"] == "open" and out["status_label"] == "开通"
    assert out["created_by"] == {"id": ops.pk, "name": "运营小王"}
    assert out["created_at"].endswith("+08:00")
    contract = Contract.objects.get(pk=out["id"])
    row = _audit(contract, "create")
    assert row.actor == ops and row.changes["amount"] == [None, "128000.50"]


def test_amount_accepts_a_json_number_and_keeps_two_places(ops, client_for):
    customer = make_customer(actor=ops, complete=True)
    body = {**CONTRACT_BODY, "amount": 99.9}
    response = call(client_for(ops), "post", f"{API}/customers/{customer.pk}/contracts", body)
    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "99.90"
    assert (
        client_for(ops).get(f"{API}/contracts/{response.json()['id']}").json()["amount"] == "99.90"
    )


def test_create_contract_passes_the_completeness_gate(ops, client_for):
    customer = make_customer(actor=ops, name="缺资料")
    response = call(
        client_for(ops), "post", f"{API}/customers/{customer.pk}/contracts", dict(CONTRACT_BODY)
    )
    body = assert_error(response, 422, "profile_incomplete")
    assert set(body["fields"]) == {
        "license_no",
        "province",
        "city",
        "address",
        "contact_name",
        "contact_phone",
    }
    assert body["message"].startswith("资料不全，添加合同前请先补全：营业执照号")
    assert not Contract.objects.exists()
    assert not AuditLog.objects.filter(content_type__app_label="contracts").exists()


@pytest.mark.parametrize(
    ("change", "field", "label"),
    [
        ({"end_date": "2025-12-31"}, "end_date", "合作截止时间"),
        ({"account_no": "12ab"}, "account_no", "账号"),
        ({"communities": 0}, "communities", "授权小区数"),
        ({"amount": "-1"}, "amount", "合作金额"),
        ({"amount": "1.234"}, "amount", "合作金额"),
        ({"party_a_phone": "12345"}, "party_a_phone", "甲方电话"),
        ({"bank_name": ""}, "bank_name", "开户行"),
        ({"status": "paused"}, "status", "状态"),
    ],
)
def test_create_contract_validation(ops, client_for, change, field, label):
    customer = make_customer(actor=ops, complete=True)
    response = call(
        client_for(ops),
        "post",
        f"{API}/customers/{customer.pk}/contracts",
        {**CONTRACT_BODY, **change},
    )
    body = assert_error(response, 422, "validation_error")
    assert field in body["fields"], body
    assert label in body["message"], body
    assert not Contract.objects.exists()


def test_customer_contracts_list(ops, client_for):
    customer = make_customer(actor=ops, complete=True)
    other = make_customer(actor=ops, complete=True)
    first = make_contract(actor=ops, customer=customer)
    second = make_contract(actor=ops, customer=customer, status="closed")
    make_contract(actor=ops, customer=other)
    client = client_for(ops)
    body = client.get(f"{API}/customers/{customer.pk}/contracts").json()
    assert body["count"] == 2
    assert [i["id"] for i in body["items"]] == [second.pk, first.pk]
    body = client.get(f"{API}/customers/{customer.pk}/contracts?status=open").json()
    assert [i["id"] for i in body["items"]] == [first.pk]


# --- List ------------------------------------------------------------------------------


def test_contract_list_scope_and_filters(ops, ops2, manager, client_for):
    mine = make_customer(actor=ops, complete=True, name="阳光物业")
    theirs = make_customer(actor=ops2, complete=True, name="月亮物业")
    soon = make_contract(actor=ops, customer=mine, start_date=_days(-300), end_date=_days(10))
    later = make_contract(actor=ops, customer=mine, start_date=_days(-1), end_date=_days(200))
    ended = make_contract(
        actor=ops, customer=mine, start_date=_days(-300), end_date=_days(20), status="closed"
    )
    other = make_contract(
        actor=ops2,
        customer=theirs,
        start_date=_days(-10),
        end_date=_days(5),
        legal_representative="周法人",
    )

    def ids(client, query: str = "") -> list[int]:
        response = client.get(f"{API}/contracts?{query}")
        assert response.status_code == 200, response.content
        return sorted(i["id"] for i in response.json()["items"])

    ops_client = client_for(ops)
    assert ids(ops_client) == sorted([soon.pk, later.pk, ended.pk])
    assert ids(ops_client, f"customer={theirs.pk}") == []
    mgr = client_for(manager)
    assert ids(mgr) == sorted([soon.pk, later.pk, ended.pk, other.pk])
    assert ids(mgr, "expiring=true") == sorted([soon.pk, other.pk])
    assert ids(mgr, "status=closed") == [ended.pk]
    assert ids(mgr, "q=月亮") == [other.pk]
    assert ids(mgr, "q=周法人") == [other.pk]
    assert ids(mgr, f"q={mine.enterprise_no}") == sorted([soon.pk, later.pk, ended.pk])
    assert ids(mgr, f"customer={mine.pk}&expiring=true") == [soon.pk]
    items = {i["id"]: i for i in mgr.get(f"{API}/contracts").json()["items"]}
    assert items[soon.pk]["is_expiring"] is True and items[soon.pk]["days_left"] == 10
    assert items[later.pk]["is_expiring"] is False
    assert items[ended.pk]["is_expiring"] is False  # closed contracts are not flagged
    order = [i["id"] for i in mgr.get(f"{API}/contracts?sort=end").json()["items"]]
    assert order == [other.pk, soon.pk, ended.pk, later.pk]
    assert_error(mgr.get(f"{API}/contracts?status=paused"), 422, "validation_error")


def test_contract_list_paginates_and_query_count_is_flat(ops, ops2, manager, client_for):
    for owner in (ops, ops2, ops, ops2):
        customer = make_customer(actor=manager, owner=owner, complete=True)
        for _ in range(4):
            make_contract(actor=manager, customer=customer)
    client = client_for(manager)
    counts = {}
    for size in (3, 16):
        with CaptureQueriesContext(connection) as ctx:
            body = client.get(f"{API}/contracts?page_size={size}").json()
        assert body["count"] == 16 and len(body["items"]) == size
        assert all(i["customer"]["name"] for i in body["items"])
        counts[size] = len(ctx.captured_queries)
    assert counts[3] == counts[16], counts
    assert counts[16] <= 8, counts
    page = client.get(f"{API}/contracts?page_size=5&page=4").json()
    assert page["pages"] == 4 and len(page["items"]) == 1


# --- Detail and update -----------------------------------------------------------------


def test_contract_detail_and_scope(ops, ops2, manager, client_for):
    mine = make_contract(actor=ops, customer=make_customer(actor=ops, complete=True))
    theirs = make_contract(actor=ops2, customer=make_customer(actor=ops2, complete=True))
    client = client_for(ops)
    body = client.get(f"{API}/contracts/{mine.pk}").json()
    assert body["id"] == mine.pk and body["intro"] == "" and body["has_scan"] is False
    assert_error(client.get(f"{API}/contracts/{theirs.pk}"), 404, "not_found")
    assert client_for(manager).get(f"{API}/contracts/{theirs.pk}").status_code == 200


def test_contract_follows_its_customers_owner(ops, ops2, manager, client_for):
    customer = make_customer(actor=ops, complete=True)
    contract = make_contract(actor=ops, customer=customer)
    call(
        client_for(manager), "post", f"{API}/customers/{customer.pk}/assign", {"owner_id": ops2.pk}
    )
    assert_error(client_for(ops).get(f"{API}/contracts/{contract.pk}"), 404, "not_found")
    assert client_for(ops2).get(f"{API}/contracts/{contract.pk}").status_code == 200


def test_patch_contract_and_audit(ops, client_for):
    contract = make_contract(actor=ops, customer=make_customer(actor=ops, complete=True))
    client = client_for(ops)
    path = f"{API}/contracts/{contract.pk}"
    response = call(
        client, "patch", path, {"status": "closed", "amount": "5000.00", "remarks": "续约"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "closed" and body["amount"] == "5000.00" and body["remarks"] == "续约"
    row = _audit(contract, "update")
    assert row.actor == ops
    assert row.changes["status"] == ["open", "closed"]
    assert row.changes["amount"] == ["128000.00", "5000.00"]


def test_patch_contract_validation(ops, client_for):
    contract = make_contract(actor=ops, customer=make_customer(actor=ops, complete=True))
    original_end = contract.end_date
    client = client_for(ops)
    path = f"{API}/contracts/{contract.pk}"
    body = assert_error(call(client, "patch", path, {"end_date": "2025-01-01"}), 422)
    assert "end_date" in body["fields"] and "合作截止时间" in body["message"]
    body = assert_error(call(client, "patch", path, {"customer": 1}), 422, "validation_error")
    assert body["fields"] == {"customer": ["不允许的字段"]}
    contract.refresh_from_db()
    assert contract.end_date == original_end


# --- Scan ------------------------------------------------------------------------------


def test_contract_scan_upload_and_download(ops, ops2, devops, client_for):
    contract = make_contract(actor=ops, customer=make_customer(actor=ops, complete=True))
    client = client_for(ops)
    path = f"{API}/contracts/{contract.pk}/scan"
    assert_error(client.get(path), 404, "no_file")
    body = assert_error(call(client, "put", path, upload(b"plain text", "x.pdf")), 422)
    assert body["fields"] == {"file": ["只接受 PDF、JPG、PNG 格式的扫描件"]}
    assert "合同扫描件" in body["message"]
    response = call(client, "put", path, upload(PDF_BYTES, "合同.pdf"))
    assert response.status_code == 200, response.content
    assert response.json()["has_scan"] is True and response.json()["scan_url"] == path
    row = _audit(contract, "update")
    assert set(row.changes) == {"scan"} and row.changes["scan"][1].endswith(".pdf")
    download = client.get(path)
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert b"".join(download.streaming_content) == PDF_BYTES
    assert_error(client_for(ops2).get(path), 404, "not_found")
    assert_error(client_for(devops).get(path), 403, "forbidden")


def test_contract_scan_needs_the_file_permission(ops, client_for):
    from django.contrib.auth.models import Group, Permission

    contract = make_contract(actor=ops, customer=make_customer(actor=ops, complete=True))
    call(client_for(ops), "put", f"{API}/contracts/{contract.pk}/scan", upload())
    # A role that may read contracts but not their files.
    reader = Group.objects.create(name="contract_reader")
    reader.permissions.set(
        Permission.objects.filter(
            codename__in=["view_contract", "view_customer", "data_scope_all"],
            content_type__app_label__in=["contracts", "customers", "accounts"],
        )
    )
    from apps.accounts.tests.factories import make_staff

    user = make_staff("reader", None)
    user.groups.add(reader)
    client = client_for(user)
    assert client.get(f"{API}/contracts/{contract.pk}").status_code == 200
    assert_error(client.get(f"{API}/contracts/{contract.pk}/scan"), 403, "forbidden")


def test_patch_with_null_text_clears_it_and_null_required_field_is_422(ops, client_for):
    from apps.contracts.models import Contract

    customer = make_customer(actor=ops, complete=True)
    client = client_for(ops)
    created = client.post(
        f"/api/v1/customers/{customer.pk}/contracts",
        {
            "bank_name": "招商银行",
            "legal_representative": "李四",
            "account_no": "755912345610001",
            "start_date": "2026-01-01",
            "end_date": "2026-12-31",
            "communities": 2,
            "amount": "1000.00",
            "party_a_contact": "王经理",
            "party_a_phone": "13800138000",
            "party_b_contact": "小李",
            "party_b_phone": "0755-86001234",
            "remarks": "首签",
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    response = client.patch(
        f"/api/v1/contracts/{pk}", {"remarks": None}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert Contract.objects.get(pk=pk).remarks == ""
    response = client.patch(
        f"/api/v1/contracts/{pk}", {"bank_name": None}, content_type="application/json"
    )
    assert response.status_code == 422 and "bank_name" in response.json()["fields"]
