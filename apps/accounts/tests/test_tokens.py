"""API 令牌: issue (shown once, only a SHA-256 stored), use as Bearer, revoke; the audit
rows never hold the token or its hash; the management command for scripts."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import ApiToken, User
from apps.accounts.tests.factories import make_staff
from apps.audit.models import AuditLog
from apps.core.errors import Conflict, Forbidden, ValidationFailed

RAW_RE = re.compile(r"hgj_([0-9a-f]{8})_[A-Za-z0-9_-]{43}")
ME_URL = "/api/v1/me"


def bearer(client, raw: str):
    return client.get(ME_URL, headers={"Authorization": f"Bearer {raw}"})


def everything_stored(token: ApiToken) -> str:
    """Every value of the token row and of every audit row, as text."""
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    audit = list(AuditLog.objects.values())
    return json.dumps([row, audit], default=str, ensure_ascii=False)


@pytest.fixture
def machine(db):
    return make_staff("bizsys", "ops_manager", name="业务系统")


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["accounts:token_list", "accounts:token_issue"])
def test_anonymous_is_sent_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.django_db
def test_anonymous_cannot_revoke(client, admin_user, machine):
    token, _raw = services.token_issue(
        actor=admin_user, user=machine, name="t", scopes=["api"], expires_at=None
    )
    response = client.post(reverse("accounts:token_revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("role_fixture", ["ops", "manager", "devops", "nobody"])
def test_non_admins_are_forbidden(request, client_for, admin_user, machine, role_fixture):
    user = request.getfixturevalue(role_fixture)
    token, _raw = services.token_issue(
        actor=admin_user, user=machine, name="t", scopes=["api"], expires_at=None
    )
    c = client_for(user)
    assert c.get(reverse("accounts:token_list")).status_code == 403
    assert c.get(reverse("accounts:token_issue")).status_code == 403
    response = c.post(
        reverse("accounts:token_issue"), {"name": "x", "user": user.pk, "scopes": ["api"]}
    )
    assert response.status_code == 403
    assert c.post(reverse("accounts:token_revoke", args=[token.pk])).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None
    assert ApiToken.objects.count() == 1
    with pytest.raises(Forbidden):
        services.token_issue(actor=user, user=user, name="x", scopes=["api"], expires_at=None)


@pytest.mark.django_db
def test_admin_sees_pages(client_for, admin_user):
    c = client_for(admin_user)
    assert c.get(reverse("accounts:token_list")).status_code == 200
    response = c.get(reverse("accounts:token_issue"))
    assert response.status_code == 200
    html = response.content.decode()
    for code, label in ApiToken.SCOPE_CHOICES:
        assert f'value="{code}"' in html and str(label) in html


@pytest.mark.django_db
def test_issue_modal_is_a_fragment_for_htmx(client_for, admin_user):
    url = reverse("accounts:token_issue")
    html = client_for(admin_user).get(url, headers={"HX-Request": "true"}).content.decode()
    assert html.lstrip().startswith('<div class="modal-backdrop">')
    assert "<html" not in html
    assert f'hx-post="{url}"' in html


@pytest.mark.django_db
def test_issue_shows_token_once_stores_only_hash_and_works_until_revoked(
    client_for, admin_user, machine
):
    admin = client_for(admin_user)
    response = admin.post(
        reverse("accounts:token_issue"),
        {"name": "业务系统-生产", "user": machine.pk, "scopes": ["api"]},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert html.lstrip().startswith('<div class="modal-backdrop">')
    assert "只显示这一次" in html
    found = RAW_RE.findall(html)
    match = RAW_RE.search(html)
    assert match and len(set(found)) == 1
    raw = match.group(0)

    token = ApiToken.objects.get()
    assert token.prefix == match.group(1)
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.user == machine and token.created_by == admin_user
    assert token.scopes == ["api"] and token.expires_at is None
    stored = everything_stored(token)
    secret = raw.split("_", 2)[2]  # hgj_<prefix>_<secret>; the secret may hold "_" too
    assert raw not in stored and secret not in stored
    # The audit row of the issue names the token but holds neither raw key nor hash.
    (row,) = AuditLog.objects.filter(action="issue_token")
    assert row.object_id == str(token.pk)
    assert row.changes["name"] == [None, "业务系统-生产"]
    assert "key_hash" not in row.changes
    assert token.key_hash not in json.dumps(list(AuditLog.objects.values()), default=str)

    # The list shows the prefix, never the key; the raw key is not shown again.
    listing = admin.get(reverse("accounts:token_list")).content.decode()
    assert f"hgj_{token.prefix}_…" in listing
    assert raw not in listing and secret not in listing

    # It works as a Bearer token against the API, acting as its owner.
    api = client_for(None)
    response = bearer(api, raw)
    assert response.status_code == 200
    assert response.json()["username"] == "bizsys"
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert bearer(api, raw + "x").status_code == 401

    # Revoked from the page: it stops working at once.
    response = admin.post(reverse("accounts:token_revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    response = bearer(api, raw)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    (revoke,) = AuditLog.objects.filter(action="revoke_token")
    assert revoke.actor_id == admin_user.pk
    assert set(revoke.changes) == {"revoked_at"}
    stored = everything_stored(token)
    assert raw not in stored and secret not in stored
    assert token.key_hash not in json.dumps(list(AuditLog.objects.values()), default=str)
    assert 'badge danger">已吊销' in admin.get(reverse("accounts:token_list")).content.decode()


@pytest.mark.django_db
def test_issue_full_page_without_htmx(client_for, admin_user, machine):
    response = client_for(admin_user).post(
        reverse("accounts:token_issue"),
        {"name": "注册表", "user": machine.pk, "scopes": ["registry"], "expires_on": "2099-12-31"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and RAW_RE.search(html)
    token = ApiToken.objects.get()
    assert token.scopes == ["registry"]
    # 有效期至 2099-12-31 includes that day (Asia/Shanghai).
    assert timezone.localtime(token.expires_at) == timezone.make_aware(
        dt.datetime(2100, 1, 1, 0, 0)
    )


@pytest.mark.django_db
def test_scope_is_enforced(client_for, admin_user, machine):
    _token, raw = services.token_issue(
        actor=admin_user, user=machine, name="reg", scopes=["registry"], expires_at=None
    )
    assert bearer(client_for(None), raw).status_code == 403  # known token, wrong scope


@pytest.mark.django_db
def test_expired_token_and_disabled_owner_stop_working(client_for, admin_user, machine):
    token, raw = services.token_issue(
        actor=admin_user,
        user=machine,
        name="short",
        scopes=["api"],
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    api = client_for(None)
    assert bearer(api, raw).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(1))
    assert bearer(api, raw).status_code == 401
    html = client_for(admin_user).get(reverse("accounts:token_list"), {"status": "expired"})
    assert 'badge off">已过期' in html.content.decode() and "short" in html.content.decode()

    _token2, raw2 = services.token_issue(
        actor=admin_user, user=machine, name="long", scopes=["api"], expires_at=None
    )
    assert bearer(api, raw2).status_code == 200
    services.staff_update(actor=admin_user, user=machine, is_active=False)
    assert bearer(api, raw2).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "  ", "scopes": ["api"]}, "name"),
        ({"name": "x", "scopes": ["api"], "expires_on": "2001-01-01"}, "expires_on"),
        ({"name": "x", "scopes": ["root"]}, "scopes"),
    ],
)
def test_issue_form_errors(client_for, admin_user, machine, data, field):
    response = client_for(admin_user).post(
        reverse("accounts:token_issue"),
        {"user": machine.pk, **data},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert "modal-backdrop" in response.content.decode()
    assert not RAW_RE.search(response.content.decode())
    assert ApiToken.objects.count() == 0
    assert not AuditLog.objects.filter(action="issue_token").exists()


@pytest.mark.django_db
def test_service_rejects_disabled_owner_and_double_revoke(admin_user, machine):
    User.objects.filter(pk=machine.pk).update(is_active=False)
    machine.refresh_from_db()
    with pytest.raises(ValidationFailed) as exc:
        services.token_issue(actor=admin_user, user=machine, name="x", scopes=["api"])
    assert "user" in exc.value.fields
    User.objects.filter(pk=machine.pk).update(is_active=True)
    token, _raw = services.token_issue(actor=admin_user, user=machine, name="x", scopes=["api"])
    services.token_revoke(actor=admin_user, token=token)
    with pytest.raises(Conflict):
        services.token_revoke(actor=admin_user, token=token)
    assert AuditLog.objects.filter(action="revoke_token").count() == 1


@pytest.mark.django_db
def test_revoking_twice_from_the_page_says_so(client_for, admin_user, machine):
    token, _raw = services.token_issue(actor=admin_user, user=machine, name="x", scopes=["api"])
    admin = client_for(admin_user)
    admin.post(reverse("accounts:token_revoke", args=[token.pk]))
    response = admin.post(reverse("accounts:token_revoke", args=[token.pk]), follow=True)
    assert "该令牌已吊销" in response.content.decode()


@pytest.mark.django_db
def test_token_list_query_count_does_not_grow_with_rows(client_for, admin_user, settings):
    settings.LIST_PAGE_SIZE = 100
    admin = client_for(admin_user)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin.get(reverse("accounts:token_list")).status_code == 200
        return len(ctx.captured_queries)

    def issue(n: int) -> None:
        for i in range(n):
            owner = make_staff(f"m{ApiToken.objects.count()}_{i}", None)
            services.token_issue(actor=admin_user, user=owner, name=f"t{i}", scopes=["api"])

    issue(3)
    few = count()
    issue(20)
    assert count() == few


@pytest.mark.django_db
def test_issue_api_token_command_prints_the_token_once(admin_user, machine, client_for):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "issue_api_token",
        "--username",
        "bizsys",
        "--name",
        "部署脚本",
        "--scope",
        "api",
        "--scope",
        "registry",
        "--expires-days",
        "30",
        stdout=out,
        stderr=err,
    )
    raw = out.getvalue().strip()
    assert RAW_RE.fullmatch(raw)
    assert raw not in err.getvalue() and "只显示这一次" in err.getvalue()
    token = ApiToken.objects.get()
    assert token.scopes == ["api", "registry"]
    assert token.created_by is None
    assert token.expires_at > timezone.now() + dt.timedelta(days=29)
    assert bearer(client_for(None), raw).status_code == 200
    row = AuditLog.objects.get(action="issue_token")
    assert row.actor is None and row.actor_name == "系统"
    assert raw not in everything_stored(token)

    with pytest.raises(CommandError, match="账号不存在"):
        call_command(
            "issue_api_token", "--username", "nobody-here", "--name", "x", "--scope", "api"
        )
