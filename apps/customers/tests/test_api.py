"""The customer endpoints of the REST API (/api/v1/customers…): every operation and status
code, data scope, the completeness gate, activation, assignment, scans and audit rows."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.tests.factories import make_staff
from apps.api.tests.helpers import API, PNG_BYTES, assert_error, call, upload
from apps.audit.models import AuditLog
from apps.customers.models import Customer
from apps.customers.tests.factories import COMPLETE_PROFILE, make_customer, unique_uscc
from apps.datasources.tests.factories import make_datasource

pytestmark = pytest.mark.django_db

ISO_LOCAL = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")


def _audit(customer: Customer, action: str) -> AuditLog:
    return AuditLog.objects.get(
        content_type__app_label="customers", object_id=str(customer.pk), action=action
    )


# --- List ------------------------------------------------------------------------------


def test_list_shows_own_and_pool_to_ops_with_names(ops, ops2, manager, client_for):
    mine = make_customer(actor=ops, complete=True, name="甲物业")
    pool = make_customer(actor=manager, owner=None, name="公海物业")
    make_customer(actor=ops2, name="别人的物业")
    body = client_for(ops).get(f"{API}/customers").json()
    assert body["count"] == 2 and body["page"] == 1 and body["pages"] == 1
    assert body["page_size"] == 20
    by_id = {item["id"]: item for item in body["items"]}
    assert set(by_id) == {mine.pk, pool.pk}
    item = by_id[mine.pk]
    assert item["owner"] == {"id": ops.pk, "name": "运营小王"}
    assert item["province_name"] == "北京市" and item["city_name"] == "北京市"
    assert item["complete"] is True and item["status"] == 2 and item["status_label"] == "未开通"
    assert ISO_LOCAL.match(item["created_at"]), item["created_at"]
    assert by_id[pool.pk]["owner"] is None and by_id[pool.pk]["complete"] is False


def test_manager_sees_every_owners_customers(ops, ops2, manager, client_for):
    make_customer(actor=ops)
    make_customer(actor=ops2)
    assert client_for(manager).get(f"{API}/customers").json()["count"] == 2


def test_list_filters(ops, ops2, manager, client_for):
    a = make_customer(actor=ops, complete=True, name="阳光物业", contact_name="赵六")
    b = make_customer(
        actor=ops2, name="月亮物业", province="440000", city="440300", contact_phone="13912345678"
    )
    c = make_customer(actor=manager, owner=None, name="星星物业")
    Customer.objects.filter(pk=c.pk).update(status=Customer.Status.OPEN)
    client = client_for(manager)

    def ids(query: str) -> list[int]:
        response = client.get(f"{API}/customers?{query}")
        assert response.status_code == 200, response.content
        return sorted(item["id"] for item in response.json()["items"])

    assert ids("q=阳光") == [a.pk]
    assert ids("q=赵六") == [a.pk]
    assert ids("q=13912345678") == [b.pk]
    assert ids(f"q={b.enterprise_no.lower()}") == [b.pk]
    assert ids(f"q={a.license_no}") == [a.pk]
    assert ids("status=1") == [c.pk]
    assert ids("status=2") == sorted([a.pk, b.pk])
    assert ids("status=0") == []
    assert ids("province=440000") == [b.pk]
    assert ids(f"owner={ops2.pk}") == [b.pk]
    assert ids("owner=none") == [c.pk]
    assert ids("owner=me") == []
    assert ids("q=物业&province=110000") == [a.pk]


def test_list_sorts(ops, client_for):
    names = ["乙物业", "甲物业", "丙物业"]
    for name in names:
        make_customer(actor=ops, name=name)
    client = client_for(ops)

    def order(sort: str) -> list[str]:
        return [i["name"] for i in client.get(f"{API}/customers?sort={sort}").json()["items"]]

    assert order("-created") == list(reversed(names))
    assert order("created") == names
    assert order("name") == sorted(names)
    assert order("-name") == sorted(names, reverse=True)
    enterprise = [
        i["enterprise_no"]
        for i in client.get(f"{API}/customers?sort=enterprise_no").json()["items"]
    ]
    assert enterprise == sorted(enterprise)


def test_list_paginates_with_total_count(ops, client_for):
    created = [make_customer(actor=ops, name=f"物业{i:02d}") for i in range(7)]
    client = client_for(ops)
    first = client.get(f"{API}/customers?page_size=3&sort=created").json()
    assert first["count"] == 7 and first["pages"] == 3 and first["page_size"] == 3
    assert [i["id"] for i in first["items"]] == [c.pk for c in created[:3]]
    last = client.get(f"{API}/customers?page_size=3&page=3&sort=created").json()
    assert [i["id"] for i in last["items"]] == [created[6].pk]
    beyond = client.get(f"{API}/customers?page_size=3&page=9").json()
    assert beyond["items"] == [] and beyond["count"] == 7
    assert_error(client.get(f"{API}/customers?page=0"), 422, "validation_error")
    assert_error(client.get(f"{API}/customers?page_size=101"), 422, "validation_error")


def test_list_query_count_does_not_grow_with_page_size(ops, ops2, manager, client_for):
    owners = [ops, ops2, manager]
    for i in range(24):
        make_customer(actor=manager, owner=owners[i % 3], complete=True)
    client = client_for(manager)
    counts = {}
    for size in (2, 20):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"{API}/customers?page_size={size}")
        assert response.status_code == 200
        assert len(response.json()["items"]) == size
        assert {i["owner"]["name"] for i in response.json()["items"]} <= {
            "运营小王",
            "运营小李",
            "主管老张",
        }
        counts[size] = len(ctx.captured_queries)
    assert counts[2] == counts[20], counts
    assert counts[20] <= 8, counts


# --- Create ----------------------------------------------------------------------------


def test_create_incomplete_customer_owned_by_creator(ops, client_for):
    response = call(
        client_for(ops),
        "post",
        f"{API}/customers",
        {"name": " 新物业 ", "contact_phone": "+86 138-0013-8000"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "新物业" and body["contact_phone"] == "13800138000"
    assert re.match(r"^HGJ\d{6}$", body["enterprise_no"])
    assert body["owner"] == {"id": ops.pk, "name": "运营小王"}
    assert body["complete"] is False and body["status"] == 2
    customer = Customer.objects.get(pk=body["id"])
    row = _audit(customer, "create")
    assert row.actor == ops and row.changes["name"] == [None, "新物业"]


def test_manager_creates_for_a_specialist_or_the_pool(manager, ops, client_for):
    client = client_for(manager)
    response = call(client, "post", f"{API}/customers", {"name": "给小王", "owner_id": ops.pk})
    assert response.status_code == 201 and response.json()["owner"]["id"] == ops.pk
    response = call(client, "post", f"{API}/customers", {"name": "公海", "owner_id": None})
    assert response.status_code == 201 and response.json()["owner"] is None
    assert Customer.objects.get(name="公海").owner is None


def test_ops_cannot_create_for_others_or_the_pool(ops, ops2, client_for):
    client = client_for(ops)
    for owner_id in (ops2.pk, None):
        response = call(client, "post", f"{API}/customers", {"name": "x", "owner_id": owner_id})
        assert_error(response, 403, "forbidden")
    response = call(client, "post", f"{API}/customers", {"name": "自己", "owner_id": ops.pk})
    assert response.status_code == 201
    assert not Customer.objects.filter(name="x").exists()


def test_create_with_unknown_or_unsuitable_owner(manager, devops, client_for):
    client = client_for(manager)
    response = call(client, "post", f"{API}/customers", {"name": "x", "owner_id": 987654})
    body = assert_error(response, 422, "validation_error")
    assert body["fields"] == {"owner_id": ["该员工不存在"]}
    assert "负责人" in body["message"]
    stranger = make_staff("stranger", None)
    response = call(client, "post", f"{API}/customers", {"name": "x", "owner_id": stranger.pk})
    body = assert_error(response, 422, "validation_error")
    assert body["fields"] == {"owner_id": ["该员工不能负责客户"]}
    assert not Customer.objects.filter(name="x").exists()


def test_create_validation_names_fields_in_chinese(ops, client_for):
    response = call(
        client_for(ops),
        "post",
        f"{API}/customers",
        {"name": "x", "license_no": "91110000600037341X", "province": "110000", "city": "440300"},
    )
    body = assert_error(response, 422, "validation_error")
    assert set(body["fields"]) == {"license_no", "city"}
    assert "营业执照号" in body["message"] and "所属城市" in body["message"]
    assert not Customer.objects.exists()


def test_duplicate_licence_number_is_refused(ops, client_for):
    existing = make_customer(actor=ops, complete=True)
    response = call(
        client_for(ops), "post", f"{API}/customers", {"license_no": existing.license_no}
    )
    body = assert_error(response, 422, "validation_error")
    assert body["fields"]["license_no"] == ["该营业执照号已被其他客户使用"]


# --- Detail and update -----------------------------------------------------------------


def test_detail_for_own_pool_and_others(ops, ops2, manager, client_for):
    mine = make_customer(actor=ops, complete=True)
    pool = make_customer(actor=manager, owner=None)
    theirs = make_customer(actor=ops2)
    client = client_for(ops)
    body = client.get(f"{API}/customers/{mine.pk}").json()
    assert body["full_address"] == "北京市朝阳区建国路 88 号"
    assert body["modules"] == [] and body["activated_by"] is None
    assert body["has_license_scan"] is False and body["license_scan_url"] is None
    assert client.get(f"{API}/customers/{pool.pk}").status_code == 200
    assert_error(client.get(f"{API}/customers/{theirs.pk}"), 404, "not_found")


def test_patch_changes_only_the_given_fields_and_audits(ops, client_for):
    customer = make_customer(actor=ops, complete=True, email="old@example.com")
    response = call(
        client_for(ops),
        "patch",
        f"{API}/customers/{customer.pk}",
        {"remarks": "客户很配合", "email": "new@example.com"},
    )
    assert response.status_code == 200, response.content
    customer.refresh_from_db()
    assert customer.remarks == "客户很配合" and customer.email == "new@example.com"
    assert customer.name == response.json()["name"] and customer.license_no
    row = _audit(customer, "update")
    assert row.actor == ops
    assert row.changes == {
        "email": ["old@example.com", "new@example.com"],
        "remarks": ["", "客户很配合"],
    }


def test_patch_validation_and_clearing(ops, client_for):
    customer = make_customer(actor=ops, complete=True)
    client = client_for(ops)
    path = f"{API}/customers/{customer.pk}"
    body = assert_error(call(client, "patch", path, {"email": "not-an-email"}), 422)
    assert "邮箱" in body["message"] and "email" in body["fields"]
    assert call(client, "patch", path, {"address": None}).json()["complete"] is False
    customer.refresh_from_db()
    assert customer.address == ""


def test_patch_of_nothing_writes_no_audit_row(ops, client_for):
    customer = make_customer(actor=ops)
    assert call(client_for(ops), "patch", f"{API}/customers/{customer.pk}", {}).status_code == 200
    assert not AuditLog.objects.filter(object_id=str(customer.pk), action="update").exists()


# --- Completeness ----------------------------------------------------------------------


def test_completeness_lists_missing_fields_with_labels(ops, client_for):
    customer = make_customer(actor=ops, name="只有名字")
    body = client_for(ops).get(f"{API}/customers/{customer.pk}/completeness").json()
    assert body["complete"] is False
    assert body["missing"] == [
        {"field": "license_no", "label": "营业执照号"},
        {"field": "province", "label": "所属省份"},
        {"field": "city", "label": "所属城市"},
        {"field": "address", "label": "企业详细地址"},
        {"field": "contact_name", "label": "联系人"},
        {"field": "contact_phone", "label": "联系电话"},
    ]
    complete = make_customer(actor=ops, complete=True)
    body = client_for(ops).get(f"{API}/customers/{complete.pk}/completeness").json()
    assert body == {"complete": True, "missing": []}


# --- Activate and close ----------------------------------------------------------------


def test_activate_incomplete_customer_names_the_missing_fields(ops, client_for):
    customer = make_customer(actor=ops, name="缺资料", contact_name="张三")
    response = call(
        client_for(ops), "post", f"{API}/customers/{customer.pk}/activate", {"modules": ["repair"]}
    )
    body = assert_error(response, 422, "profile_incomplete")
    assert set(body["fields"]) == {"license_no", "province", "city", "address", "contact_phone"}
    assert "营业执照号" in body["message"] and "联系电话" in body["message"]
    customer.refresh_from_db()
    assert customer.status == Customer.Status.NOT_OPENED
    assert not AuditLog.objects.filter(action="activate").exists()


def test_activate_needs_a_data_source(ops, client_for):
    customer = make_customer(actor=ops, complete=True)
    path = f"{API}/customers/{customer.pk}/activate"
    body = assert_error(call(client_for(ops), "post", path, {"modules": ["property"]}), 409)
    assert body["code"] == "datasource_missing" and "数据源" in body["message"]
    customer.refresh_from_db()
    assert not customer.is_open


def test_activate_complete_customer(ops, client_for):
    customer = make_customer(actor=ops, complete=True)
    make_datasource(customer)
    response = call(
        client_for(ops),
        "post",
        f"{API}/customers/{customer.pk}/activate",
        {"modules": ["repair", "property", "repair"]},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == 1 and body["status_label"] == "开通"
    assert body["modules"] == ["property", "repair"]
    assert body["activated_by"] == {"id": ops.pk, "name": "运营小王"}
    assert ISO_LOCAL.match(body["activated_at"]), body["activated_at"]
    row = _audit(customer, "activate")
    assert row.actor == ops and row.changes["status"] == [2, 1]


def test_activate_with_profile_completes_and_activates_in_one_step(ops, client_for):
    customer = make_customer(actor=ops, name="待补全")
    make_datasource(customer)
    profile = {k: v for k, v in COMPLETE_PROFILE.items() if k != "name"}
    profile["license_no"] = unique_uscc()
    response = call(
        client_for(ops),
        "post",
        f"{API}/customers/{customer.pk}/activate",
        {"modules": ["property"], "profile": profile},
    )
    assert response.status_code == 200, response.content
    customer.refresh_from_db()
    assert customer.is_open and customer.license_no == profile["license_no"]
    assert _audit(customer, "update").changes["address"] == ["", COMPLETE_PROFILE["address"]]
    assert _audit(customer, "activate")


def test_activate_with_partial_profile_changes_nothing(ops, client_for):
    customer = make_customer(actor=ops, name="待补全")
    response = call(
        client_for(ops),
        "post",
        f"{API}/customers/{customer.pk}/activate",
        {"modules": ["property"], "profile": {"address": "某路 1 号", "contact_name": "李四"}},
    )
    body = assert_error(response, 422, "profile_incomplete")
    assert set(body["fields"]) == {"license_no", "province", "city", "contact_phone"}
    customer.refresh_from_db()
    assert customer.address == "" and not customer.is_open


def test_activate_conflicts_and_bad_modules(ops, client_for):
    customer = make_customer(actor=ops, complete=True)
    make_datasource(customer)
    client = client_for(ops)
    path = f"{API}/customers/{customer.pk}/activate"
    body = assert_error(call(client, "post", path, {"modules": ["teleport"]}), 422)
    assert body["fields"] == {"modules": ["未知模块：teleport"]}
    assert_error(call(client, "post", path, {"modules": []}), 422, "validation_error")
    assert_error(call(client, "post", path, {}), 422, "validation_error")
    assert call(client, "post", path, {"modules": ["property"]}).status_code == 200
    body = assert_error(call(client, "post", path, {"modules": ["property"]}), 409, "already_open")
    assert body["message"] == "该客户已是开通状态"


def test_close_with_reason(ops, client_for):
    customer = make_customer(actor=ops, complete=True)
    make_datasource(customer)
    client = client_for(ops)
    path = f"{API}/customers/{customer.pk}/close"
    # Never opened: nothing to close.
    assert_error(call(client, "post", path, {"reason": "欠费"}), 409, "not_opened")
    call(client, "post", f"{API}/customers/{customer.pk}/activate", {"modules": ["property"]})
    body = assert_error(call(client, "post", path, {"reason": "  "}), 422, "validation_error")
    assert body["fields"] == {"reason": ["请填写关闭原因"]}
    assert_error(call(client, "post", path, {}), 422, "validation_error")
    response = call(client, "post", path, {"reason": "合同到期未续约"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == 0 and body["close_reason"] == "合同到期未续约"
    assert ISO_LOCAL.match(body["closed_at"])
    row = _audit(customer, "close")
    assert row.actor == ops and row.message == "合同到期未续约"
    # Closed after being open: a second close says so.
    assert_error(call(client, "post", path, {"reason": "欠费"}), 409, "already_closed")


# --- Assign ----------------------------------------------------------------------------


def test_manager_assigns_and_returns_to_pool(manager, ops, ops2, client_for):
    customer = make_customer(actor=ops)
    client = client_for(manager)
    path = f"{API}/customers/{customer.pk}/assign"
    response = call(client, "post", path, {"owner_id": ops2.pk})
    assert response.status_code == 200, response.content
    assert response.json()["owner"] == {"id": ops2.pk, "name": "运营小李"}
    assert _audit(customer, "assign").changes == {"owner": [ops.pk, ops2.pk]}
    assert call(client, "post", path, {"owner_id": None}).json()["owner"] is None
    customer.refresh_from_db()
    assert customer.owner is None
    assert AuditLog.objects.filter(action="assign", object_id=str(customer.pk)).count() == 2


def test_assign_validation(manager, ops, client_for):
    customer = make_customer(actor=ops)
    client = client_for(manager)
    path = f"{API}/customers/{customer.pk}/assign"
    body = assert_error(call(client, "post", path, {}), 422, "validation_error")
    assert body["fields"] == {"owner_id": ["此项为必填项"]}
    body = assert_error(call(client, "post", path, {"owner_id": 424242}), 422)
    assert body["fields"] == {"owner_id": ["该员工不存在"]}
    disabled = make_staff("left", "ops")
    disabled.is_active = False
    disabled.save()
    body = assert_error(call(client, "post", path, {"owner_id": disabled.pk}), 422)
    assert body["fields"] == {"owner_id": ["该员工不能负责客户"]}
    customer.refresh_from_db()
    assert customer.owner == ops


def test_ops_cannot_assign(ops, manager, client_for):
    mine = make_customer(actor=ops)
    pool = make_customer(actor=manager, owner=None)
    client = client_for(ops)
    for customer in (mine, pool):
        response = call(
            client, "post", f"{API}/customers/{customer.pk}/assign", {"owner_id": ops.pk}
        )
        assert_error(response, 403, "forbidden")
    pool.refresh_from_db()
    assert pool.owner is None


# --- Licence scan ----------------------------------------------------------------------


def test_license_scan_upload_and_download(ops, client_for):
    customer = make_customer(actor=ops, complete=True)
    client = client_for(ops)
    path = f"{API}/customers/{customer.pk}/license-scan"
    assert_error(client.get(path), 404, "no_file")
    response = call(client, "put", path, upload(PNG_BYTES, "执照.pdf"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["has_license_scan"] is True and body["license_scan_url"] == path
    customer.refresh_from_db()
    assert customer.license_scan.name.endswith(".png")  # stored by content, not by name
    assert "执照" not in customer.license_scan.name
    row = _audit(customer, "update")
    assert row.changes["license_scan"][0] == "" and row.changes["license_scan"][1].endswith(".png")

    download = client.get(path)
    assert download.status_code == 200
    assert download["Content-Type"] == "image/png"
    assert download["Cache-Control"] == "private, no-store"
    assert "inline" in download["Content-Disposition"]
    assert b"".join(download.streaming_content) == PNG_BYTES


def test_license_scan_rejects_other_files(ops, client_for):
    customer = make_customer(actor=ops)
    client = client_for(ops)
    path = f"{API}/customers/{customer.pk}/license-scan"
    body = assert_error(call(client, "put", path, upload(b"MZ\x90\x00evil", "scan.pdf")), 422)
    assert body["fields"] == {"file": ["只接受 PDF、JPG、PNG 格式的扫描件"]}
    assert "营业执照扫描件" in body["message"]
    body = assert_error(client.put(path), 422, "validation_error")
    assert body["fields"] == {"file": ["此项为必填项"]}
    customer.refresh_from_db()
    assert not customer.license_scan


def test_license_scan_download_permissions(ops, ops2, devops, manager, client_for):
    customer = make_customer(actor=ops)
    path = f"{API}/customers/{customer.pk}/license-scan"
    assert call(client_for(ops), "put", path, upload()).status_code == 200
    assert_error(client_for(ops2).get(path), 404, "not_found")
    assert_error(client_for(devops).get(path), 403, "forbidden")
    assert client_for(manager).get(path).status_code == 200


def test_license_scan_file_gone_from_storage_is_404(ops, client_for):
    customer = make_customer(actor=ops)
    client = client_for(ops)
    path = f"{API}/customers/{customer.pk}/license-scan"
    call(client, "put", path, upload())
    customer.refresh_from_db()
    customer.license_scan.storage.delete(customer.license_scan.name)
    assert_error(client.get(path), 404, "no_file")


# --- Audit context ---------------------------------------------------------------------


def test_api_writes_record_request_id_and_ip(ops, client_for):
    response = call(
        client_for(ops),
        "post",
        f"{API}/customers",
        {"name": "留痕物业"},
        HTTP_X_REQUEST_ID="req-api-42",
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 201
    assert response["X-Request-ID"] == "req-api-42"
    row = _audit(Customer.objects.get(name="留痕物业"), "create")
    assert row.request_id == "req-api-42" and row.ip == "10.1.2.3"
    assert row.actor_name == "运营小王"


def test_a_replaced_scan_is_deleted_from_storage(
    ops, client_for, django_capture_on_commit_callbacks
):
    from django.core.files.storage import default_storage

    customer = make_customer(actor=ops, complete=True)
    client = client_for(ops)
    path = f"{API}/customers/{customer.pk}/license-scan"
    with django_capture_on_commit_callbacks(execute=True):
        assert call(client, "put", path, upload(PNG_BYTES, "a.png")).status_code == 200
    customer.refresh_from_db()
    first = customer.license_scan.name
    assert default_storage.exists(first)
    with django_capture_on_commit_callbacks(execute=True):
        assert call(client, "put", path, upload(PNG_BYTES, "b.png")).status_code == 200
    customer.refresh_from_db()
    assert customer.license_scan.name != first
    assert default_storage.exists(customer.license_scan.name)
    assert not default_storage.exists(first)
