"""Requests that go wrong before any field is read — an oversized body, malformed JSON,
malformed multipart, a wrong content type — answer in the API's JSON error format, in
Chinese, with a 4xx; never Django's English HTML page, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.customers.tests.factories import COMPLETE_PROFILE, make_customer, unique_uscc

pytestmark = pytest.mark.django_db


def _json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "fields"}
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"]), body["message"]
    return body


@pytest.fixture
def api(client_for, manager) -> Client:
    return client_for(manager)


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b'{"name": }',
        b"\xff\xfe\x00",
        b"[1, 2, 3]",
        b'"just a string"',
        b"null",
        b'{"name": "\\ud800"',
    ],
)
def test_malformed_json(api, raw):
    response = api.post("/api/v1/leads", raw, content_type="application/json")
    assert response.status_code in (400, 422)
    _json_error(response, response.status_code)


def test_body_too_large(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = b'{"name": "' + b"x" * 4096 + b'", "phone": "13800138000"}'
    response = api.post("/api/v1/leads", body, content_type="application/json")
    body = _json_error(response, 413)
    assert body["code"] == "request_too_large"


def test_too_many_form_fields(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    data = "&".join(f"f{i}=1" for i in range(50))
    response = api.post("/api/v1/leads", data, content_type="application/x-www-form-urlencoded")
    assert response.status_code in (400, 413, 415, 422)
    _json_error(response, response.status_code)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "application/x-www-form-urlencoded", "image/png"],
)
def test_wrong_content_type(api, content_type):
    response = api.post(
        "/api/v1/leads",
        '{"name": "王经理", "phone": "13800138000"}'.encode(),
        content_type=content_type,
    )
    assert response.status_code in (400, 415, 422)
    _json_error(response, response.status_code)


def test_malformed_multipart(api, manager):
    profile = {**COMPLETE_PROFILE, "license_no": unique_uscc()}
    profile.pop("name")
    customer = make_customer(actor=manager, name="扫描件客户", **profile)
    url = f"/api/v1/customers/{customer.pk}/license-scan"
    for body, content_type in [
        (b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc', "multipart/form-data"),
        (b"garbage", "multipart/form-data; boundary=xyz"),
        (b"--xyz--", "multipart/form-data; boundary="),
    ]:
        response = api.put(url, body, content_type=content_type)
        assert response.status_code in (400, 422), (content_type, response.status_code)
        _json_error(response, response.status_code)


def test_console_keeps_its_pages(client_for, manager, settings):
    """Outside /api/ an oversized post is still refused, as a page, not a 500."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = client_for(manager).post("/leads/new/", {"name": "x" * 4096, "phone": "1"})
    assert response.status_code == 400
    assert "请求无法处理" in response.content.decode()


@pytest.mark.parametrize(
    ("url", "body", "label"),
    [
        ("/api/v1/customers", {"name": 5}, "企业名称"),
        ("/api/v1/leads", {"name": 5, "phone": "13800138000"}, "姓名"),
        ("/api/v1/leads", {"name": "王经理", "phone": 13800138000}, "电话"),
    ],
)
def test_each_schema_names_its_own_fields(api, url, body, label):
    """The same field name means different things in different resources: a customer's
    ``name`` is its 企业名称, a lead's the applicant's 姓名."""
    import json

    response = api.post(url, json.dumps(body), content_type="application/json")
    payload = _json_error(response, 422)
    assert payload["message"].startswith(f"提交的数据有误：{label}："), payload["message"]
