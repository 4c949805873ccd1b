"""The API as a whole: authentication (session + CSRF, Bearer tokens), the permission
matrix over every customer and contract endpoint, the error shape, the OpenAPI document
and the interactive docs."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone
from openapi_spec_validator import validate

from apps.accounts.models import ApiToken
from apps.accounts.tests.factories import make_staff, make_token
from apps.audit.models import AuditLog
from apps.contracts.tests.factories import make_contract
from apps.customers.models import Customer
from apps.customers.tests.factories import make_customer
from apps.datasources.tests.factories import make_datasource

from .helpers import API, assert_error, bearer, call, every_endpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(ops, ops2):
    """A complete customer with a contract owned by ops, and the same for ops2."""
    mine = make_customer(actor=ops, complete=True)
    theirs = make_customer(actor=ops2, complete=True)
    return {
        "mine": mine,
        "my_contract": make_contract(actor=ops, customer=mine),
        "theirs": theirs,
        "their_contract": make_contract(actor=ops2, customer=theirs),
    }


def _csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _csrf_token(client: Client) -> str:
    """The docs page sets the CSRF cookie (Swagger UI sends it back as X-CSRFToken)."""
    assert client.get(f"{API}/docs").status_code == 200
    return client.cookies["csrftoken"].value


# --- The permission matrix -------------------------------------------------------------


def test_anonymous_gets_401_everywhere(records):
    # enforce_csrf_checks: an anonymous write must be told 401, not a CSRF 403.
    client = Client(enforce_csrf_checks=True)
    endpoints = every_endpoint(records["mine"].pk, records["my_contract"].pk)
    endpoints.append(("get", f"{API}/me", None))
    before = AuditLog.objects.count()
    for method, path, body in endpoints:
        body = assert_error(call(client, method, path, body), 401, "unauthenticated")
        assert body["message"] == "未登录或令牌无效", (method, path)
    assert AuditLog.objects.count() == before


def test_account_without_role_gets_403_everywhere(records, nobody, client_for):
    client = client_for(nobody)
    before = AuditLog.objects.count()
    for method, path, body in every_endpoint(records["mine"].pk, records["my_contract"].pk):
        assert_error(call(client, method, path, body), 403, "forbidden")
    assert AuditLog.objects.count() == before


def test_ops_gets_404_for_another_specialists_records(records, ops, client_for):
    client = client_for(ops)
    before = AuditLog.objects.count()
    for method, path, body in every_endpoint(records["theirs"].pk, records["their_contract"].pk):
        if path in (f"{API}/customers", f"{API}/contracts"):
            continue  # collections, not records
        body = assert_error(call(client, method, path, body), 404, "not_found")
        assert body["message"] == "记录不存在或无权访问"
    assert AuditLog.objects.count() == before


def test_missing_ids_answer_like_out_of_scope_ones(ops, client_for):
    client = client_for(ops)
    for method, path, body in every_endpoint(999999, 999999):
        if path in (f"{API}/customers", f"{API}/contracts"):
            continue
        assert_error(call(client, method, path, body), 404, "not_found")


def test_non_numeric_id_is_a_validation_error(ops, client_for):
    body = assert_error(client_for(ops).get(f"{API}/customers/abc"), 422, "validation_error")
    assert body["fields"] == {"id": ["请输入整数"]}


def test_devops_reads_customers_but_cannot_write_them_or_touch_contracts(
    records, devops, client_for
):
    client = client_for(devops)
    mine, contract = records["mine"], records["my_contract"]
    assert client.get(f"{API}/customers").json()["count"] == 2
    assert client.get(f"{API}/customers/{mine.pk}").status_code == 200
    assert client.get(f"{API}/customers/{mine.pk}/completeness").status_code == 200
    forbidden = [
        ("post", f"{API}/customers", {"name": "新物业"}),
        ("patch", f"{API}/customers/{mine.pk}", {"remarks": "x"}),
        ("post", f"{API}/customers/{mine.pk}/activate", {"modules": ["property"]}),
        ("post", f"{API}/customers/{mine.pk}/close", {"reason": "x"}),
        ("post", f"{API}/customers/{mine.pk}/assign", {"owner_id": None}),
        ("get", f"{API}/customers/{mine.pk}/license-scan", None),
        ("get", f"{API}/customers/{mine.pk}/contracts", None),
        ("get", f"{API}/contracts", None),
        ("get", f"{API}/contracts/{contract.pk}", None),
    ]
    for method, path, body in forbidden:
        assert_error(call(client, method, path, body), 403, "forbidden")


def test_admin_can_do_everything(records, admin_user, ops2, client_for):
    client = client_for(admin_user)
    theirs = records["theirs"]
    contract = records["their_contract"]
    make_datasource(theirs)
    for method, path, body in every_endpoint(theirs.pk, contract.pk):
        response = call(client, method, path, body)
        assert response.status_code in (200, 201), (method, path, response.content)


# --- Sessions and CSRF -----------------------------------------------------------------


def test_session_writes_need_the_csrf_token(ops):
    client = _csrf_client(ops)
    response = call(client, "post", f"{API}/customers", {"name": "无令牌物业"})
    body = assert_error(response, 403, "csrf_failed")
    assert "CSRF" in body["message"]
    assert not Customer.objects.filter(name="无令牌物业").exists()

    token = _csrf_token(client)
    response = call(
        client, "post", f"{API}/customers", {"name": "有令牌物业"}, HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 201, response.content
    assert Customer.objects.filter(name="有令牌物业", owner=ops).exists()


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("patch", "", {"remarks": "x"}),
        ("post", "/close", {"reason": "x"}),
        ("post", "/activate", {"modules": ["property"]}),
    ],
)
def test_every_unsafe_method_checks_csrf(ops, method, suffix, body):
    customer = make_customer(actor=ops, complete=True)
    client = _csrf_client(ops)
    response = call(client, method, f"{API}/customers/{customer.pk}{suffix}", body)
    assert_error(response, 403, "csrf_failed")


def test_multipart_upload_checks_csrf(ops):
    from .helpers import upload

    customer = make_customer(actor=ops)
    client = _csrf_client(ops)
    path = f"{API}/customers/{customer.pk}/license-scan"
    assert_error(call(client, "put", path, upload()), 403, "csrf_failed")
    token = _csrf_token(client)
    assert call(client, "put", path, upload(), HTTP_X_CSRFTOKEN=token).status_code == 200


def test_session_reads_need_no_csrf_token(ops):
    client = _csrf_client(ops)
    make_customer(actor=ops)
    assert client.get(f"{API}/customers").status_code == 200


# --- Bearer tokens ---------------------------------------------------------------------


def test_bearer_token_acts_as_its_user_without_csrf(ops, ops2):
    mine = make_customer(actor=ops)
    theirs = make_customer(actor=ops2)
    raw = make_token(ops)
    client = Client(enforce_csrf_checks=True)
    listed = client.get(f"{API}/customers", **bearer(raw)).json()
    assert [item["id"] for item in listed["items"]] == [mine.pk]
    assert_error(client.get(f"{API}/customers/{theirs.pk}", **bearer(raw)), 404, "not_found")

    response = call(client, "post", f"{API}/customers", {"name": "令牌创建"}, **bearer(raw))
    assert response.status_code == 201, response.content
    created = Customer.objects.get(pk=response.json()["id"])
    assert created.owner == ops and created.created_by == ops
    row = AuditLog.objects.get(action="create", object_id=str(created.pk))
    assert row.actor == ops
    assert ApiToken.objects.get(user=ops).last_used_at is not None
    # The token's secret never lands in the audit trail.
    assert raw not in str(row.changes) and raw not in row.message


def test_bearer_token_is_limited_by_its_users_role(devops):
    raw = make_token(devops)
    client = Client()
    assert client.get(f"{API}/customers", **bearer(raw)).status_code == 200
    response = call(client, "post", f"{API}/customers", {"name": "x"}, **bearer(raw))
    assert_error(response, 403, "forbidden")


@pytest.mark.parametrize("kind", ["revoked", "expired", "unknown", "inactive_user", "malformed"])
def test_unusable_bearer_tokens_get_401(ops, kind):
    now = timezone.now()
    user = ops
    fields: dict = {}
    scopes = (ApiToken.SCOPE_API,)
    if kind == "revoked":
        fields["revoked_at"] = now - dt.timedelta(minutes=1)
    elif kind == "expired":
        fields["expires_at"] = now - dt.timedelta(seconds=1)
    elif kind == "inactive_user":
        user = make_staff("gone", "ops")
        user.is_active = False
        user.save()
    raw = make_token(user, scopes=scopes, **fields)
    if kind == "unknown":
        raw = raw[:-4] + "XXXX"
    headers = bearer(raw) if kind != "malformed" else {"HTTP_AUTHORIZATION": f"Token {raw}"}
    client = Client()
    assert_error(client.get(f"{API}/customers", **headers), 401, "unauthenticated")
    response = call(client, "post", f"{API}/customers", {"name": "x"}, **headers)
    assert_error(response, 401, "unauthenticated")
    assert not Customer.objects.exists()


def test_a_token_of_another_scope_gets_403(ops):
    raw = make_token(ops, scopes=(ApiToken.SCOPE_REGISTRY,))
    client = Client()
    body = assert_error(client.get(f"{API}/customers", **bearer(raw)), 403, "forbidden")
    assert "该令牌没有此接口所需的权限范围：控制台 API" in body["message"]
    response = call(client, "post", f"{API}/customers", {"name": "x"}, **bearer(raw))
    assert_error(response, 403, "forbidden")
    assert not Customer.objects.exists()


def test_token_with_future_expiry_works(ops):
    raw = make_token(ops, expires_at=timezone.now() + dt.timedelta(days=1))
    assert Client().get(f"{API}/customers", **bearer(raw)).status_code == 200


# --- Error shape -----------------------------------------------------------------------


def test_request_validation_errors_name_the_field_in_chinese(ops, client_for):
    customer = make_customer(actor=ops, complete=True)
    client = client_for(ops)
    response = call(
        client,
        "post",
        f"{API}/customers/{customer.pk}/contracts",
        {"bank_name": "x", "communities": "many", "start_date": "2026/01/01"},
    )
    body = assert_error(response, 422, "validation_error")
    assert body["fields"]["communities"] == ["请输入整数"]
    assert body["fields"]["start_date"] == ["日期格式应为 YYYY-MM-DD"]
    assert body["fields"]["legal_representative"] == ["此项为必填项"]
    assert "授权小区数：请输入整数" in body["message"]
    assert "合作开始时间" in body["message"]


def test_unknown_body_fields_are_rejected(ops, client_for):
    customer = make_customer(actor=ops)
    response = call(
        client_for(ops), "patch", f"{API}/customers/{customer.pk}", {"status": 1, "name": "x"}
    )
    body = assert_error(response, 422, "validation_error")
    assert body["fields"] == {"status": ["不允许的字段"]}
    customer.refresh_from_db()
    assert customer.status == Customer.Status.NOT_OPENED and customer.name != "x"


def test_invalid_json_body(ops, client_for):
    response = client_for(ops).post(
        f"{API}/customers", data="{not json", content_type="application/json"
    )
    body = assert_error(response, 400, "bad_request")
    assert "JSON" in body["message"]


def test_query_parameter_errors(ops, client_for):
    client = client_for(ops)
    body = assert_error(client.get(f"{API}/customers?page_size=1000"), 422, "validation_error")
    assert "page_size" in body["fields"] and "每页条数" in body["message"]
    body = assert_error(client.get(f"{API}/customers?sort=password"), 422, "validation_error")
    assert body["fields"] == {"sort": ["取值不在允许范围内"]}
    assert_error(client.get(f"{API}/customers?status=7"), 422, "validation_error")
    assert_error(client.get(f"{API}/contracts?expiring=perhaps"), 422, "validation_error")


# --- OpenAPI and docs ------------------------------------------------------------------


def test_openapi_document_is_valid_and_lists_the_fixed_paths(client):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    validate(spec)
    paths = set(spec["paths"])
    for path in (
        "/api/v1/customers",
        "/api/v1/customers/{id}",
        "/api/v1/customers/{id}/completeness",
        "/api/v1/customers/{id}/activate",
        "/api/v1/customers/{id}/close",
        "/api/v1/customers/{id}/assign",
        "/api/v1/customers/{id}/license-scan",
        "/api/v1/customers/{id}/contracts",
        "/api/v1/contracts",
        "/api/v1/contracts/{id}",
        "/api/v1/contracts/{id}/scan",
    ):
        assert path in paths, path
    schemes = spec["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} >= {"http", "apiKey"}
    activate = spec["paths"]["/api/v1/customers/{id}/activate"]["post"]["responses"]
    assert activate["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    item = spec["components"]["schemas"]["ContractListItem"]["properties"]
    assert item["amount"]["type"] == "string"
    assert item["start_date"]["format"] == "date"


def test_docs_page_serves_swagger_from_local_static_files(client):
    response = client.get(f"{API}/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert refs, html
    for ref in refs:
        assert ref.startswith("/static/"), ref
    assert "//" not in "".join(refs).replace("/static/", "")
    assert "cdn" not in html.lower()
    assert '"url": "/api/v1/openapi.json"' in html
    for ref in refs:
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        content = b"".join(asset.streaming_content) if asset.streaming else asset.content
        assert len(content) > 100, ref


def test_unknown_api_path_and_wrong_method_keep_the_error_shape(ops, client_for):
    client = client_for(ops)
    body = assert_error(client.get(f"{API}/no-such-thing"), 404, "not_found")
    assert body["message"] == "接口不存在：请检查请求路径"
    response = client.delete(f"{API}/customers")
    body = assert_error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"] and "POST" in response["Allow"]
    # Console pages keep their own 404 page.
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
