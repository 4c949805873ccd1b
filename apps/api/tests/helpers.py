"""Helpers for API tests: bearer headers, JSON and multipart calls, sample uploads and
bodies. Records are built by each app's ``tests/factories``."""

from __future__ import annotations

import json
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

API = "/api/v1"

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

CONTRACT_BODY: dict[str, Any] = {
    "bank_name": "招商银行深圳分行",
    "legal_representative": "李法人",
    "account_no": "755912345610801",
    "start_date": "2026-01-01",
    "end_date": "2026-12-31",
    "communities": 3,
    "amount": "128000",
    "party_a_contact": "王经理",
    "party_a_phone": "13800138000",
    "party_b_contact": "陈销售",
    "party_b_phone": "0755-86001234",
}


def bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def upload(content: bytes = PDF_BYTES, name: str = "scan.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def call(client: Client, method: str, path: str, body: Any = None, **extra: Any):
    """``body``: a dict (sent as JSON), an uploaded file (sent as multipart ``file``), or None."""
    method = method.lower()
    if isinstance(body, SimpleUploadedFile):
        body.seek(0)
        return getattr(client, method)(
            path,
            data=encode_multipart(BOUNDARY, {"file": body}),
            content_type=MULTIPART_CONTENT,
            **extra,
        )
    if body is None:
        return getattr(client, method)(path, **extra)
    return getattr(client, method)(
        path, data=json.dumps(body), content_type="application/json", **extra
    )


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is the API's error shape with ``status`` (and ``code``)."""
    assert response.status_code == status, response.content.decode()
    body = response.json()
    assert set(body) == {"code", "message", "fields"}, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["fields"], dict)
    if code is not None:
        assert body["code"] == code, body
    return body


def every_endpoint(customer_id: int, contract_id: int) -> list[tuple[str, str, Any]]:
    """Every customer and contract operation with a body that passes parsing."""
    c, k = f"{API}/customers/{customer_id}", f"{API}/contracts/{contract_id}"
    return [
        ("get", f"{API}/customers", None),
        ("post", f"{API}/customers", {"name": "新物业"}),
        ("get", c, None),
        ("patch", c, {"remarks": "改一下"}),
        ("get", f"{c}/completeness", None),
        ("post", f"{c}/activate", {"modules": ["property"]}),
        ("post", f"{c}/close", {"reason": "停止合作"}),
        ("post", f"{c}/assign", {"owner_id": None}),
        ("put", f"{c}/license-scan", upload()),
        ("get", f"{c}/license-scan", None),
        ("get", f"{c}/contracts", None),
        ("post", f"{c}/contracts", dict(CONTRACT_BODY)),
        ("get", f"{API}/contracts", None),
        ("get", k, None),
        ("patch", k, {"remarks": "改一下"}),
        ("put", f"{k}/scan", upload()),
        ("get", f"{k}/scan", None),
    ]
