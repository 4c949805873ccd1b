"""Error codes come from one enumeration: no raise site, error class or API handler writes a
code as a free string, and the OpenAPI document lists the closed set."""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

from apps.core.errors import DomainError, ErrorCode

ERROR_CLASSES = {
    "DomainError",
    "NotFound",
    "Forbidden",
    "Conflict",
    "ValidationFailed",
    "ProfileIncomplete",
    "RateLimited",
    "ProvisioningFailed",
    "Blocker",
}


def _sources():
    for path in (Path(settings.BASE_DIR) / "apps").rglob("*.py"):
        parts = set(path.parts)
        if "tests" in parts or "migrations" in parts:
            continue
        yield path, ast.parse(path.read_text())


def test_no_error_code_is_a_free_string():
    offenders = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = getattr(func, "id", None) or getattr(func, "attr", None)
                if name not in ERROR_CLASSES:
                    continue
                code = next((kw.value for kw in node.keywords if kw.arg == "code"), None)
                if code is None and name == "Blocker" and node.args:
                    code = node.args[0]
                if isinstance(code, ast.Constant) and isinstance(code.value, str):
                    offenders.append(f"{path}:{node.lineno}")
            if isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if (
                        isinstance(stmt, ast.Assign)
                        and any(getattr(t, "id", None) == "code" for t in stmt.targets)
                        and isinstance(stmt.value, ast.Constant)
                    ):
                        offenders.append(f"{path}:{stmt.lineno}")
    assert offenders == []


def test_every_error_class_has_an_enumerated_code():
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    for cls in [DomainError, *subclasses(DomainError)]:
        assert isinstance(cls.code, ErrorCode), cls


def test_codes_are_unique_snake_case_strings():
    values = [c.value for c in ErrorCode]
    assert len(values) == len(set(values))
    assert all(v.replace("_", "").isalpha() and v.islower() for v in values)


def test_the_openapi_document_lists_the_codes(client):
    schema = client.get("/api/v1/openapi.json").json()
    error = schema["components"]["schemas"]["ErrorCode"]
    assert set(error["enum"]) == {c.value for c in ErrorCode}
