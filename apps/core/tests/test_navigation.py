"""The one safe-redirect helper and the HTMX-aware redirect."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse

from apps.core.navigation import hx_redirect, safe_next

DEFAULT = "/customers/"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/leads/?page=2", "/leads/?page=2"),
        ("/\\evil.com", DEFAULT),
        ("//evil.com", DEFAULT),
        ("https://evil.com/", DEFAULT),
        ("javascript:alert(1)", DEFAULT),
        ("\\\\evil.com", DEFAULT),
        ("", DEFAULT),
        ("http://testserver/leads/", "http://testserver/leads/"),
    ],
)
def test_safe_next(target, expected):
    assert safe_next(RequestFactory().get("/", {"next": target}), DEFAULT) == expected
    assert safe_next(RequestFactory().post("/", {"next": target}), DEFAULT) == expected


def test_hx_redirect():
    request = RequestFactory().get("/")
    request.htmx = False
    assert hx_redirect(request, "/leads/")["Location"] == "/leads/"
    request.htmx = True
    response = hx_redirect(request, "/leads/")
    assert response.status_code == 204 and response["HX-Redirect"] == "/leads/"


@pytest.mark.django_db
def test_bulk_assignment_never_sends_a_manager_off_site(client_for, manager):
    response = client_for(manager).post(
        reverse("customers:assign"), {"ids": [], "owner": "", "next": "/\\evil.com"}
    )
    assert response["Location"] == reverse("customers:list")
