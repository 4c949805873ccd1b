"""登录日志 and login throttling, through the real login form (client.post to /accounts/login/)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apps.accounts.tests.factories import make_staff
from apps.audit.models import AuditLog

PASSWORD = "Pa$$w0rd!x"
LOGIN_URL = "/accounts/login/"
UA = "Mozilla/5.0 (Windows NT 10.0) 测试浏览器"


def post_login(client, username: str, password: str, ip: str = "127.0.0.1"):
    return client.post(
        LOGIN_URL,
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
        headers={"User-Agent": UA},
    )


def signed_in(response) -> bool:
    return "_auth_user_id" in response.wsgi_request.session


def all_audit_text() -> str:
    return json.dumps(list(AuditLog.objects.values()), default=str, ensure_ascii=False)


@pytest.mark.django_db
def test_login_and_logout_are_logged(client, ops):
    response = post_login(client, "ops1", PASSWORD, ip="10.1.2.3")
    assert response.status_code == 302 and signed_in(response)
    row = AuditLog.objects.get(action="login")
    assert row.actor_id == ops.pk and row.actor_name == "运营小王"
    assert row.content_type.model == "user" and row.object_id == str(ops.pk)
    assert row.ip == "10.1.2.3"
    assert row.request_id and response["X-Request-ID"] == row.request_id
    assert UA in row.message

    client.post(reverse("accounts:logout"), REMOTE_ADDR="10.1.2.3")
    row = AuditLog.objects.get(action="logout")
    assert row.actor_id == ops.pk and row.object_id == str(ops.pk) and row.ip == "10.1.2.3"
    assert PASSWORD not in all_audit_text()


@pytest.mark.django_db
def test_failed_logins_are_logged_without_the_password(client, ops):
    wrong = "Wr0ng-Passw0rd!"
    response = post_login(client, "ops1", wrong)
    assert response.status_code == 200 and not signed_in(response)
    assert "用户名或密码不正确" in response.content.decode()
    row = AuditLog.objects.get(action="login_failed")
    assert row.actor is None and row.actor_name == "ops1"
    assert row.object_id == str(ops.pk)
    assert row.message.startswith("密码错误")
    assert row.ip == "127.0.0.1"

    post_login(client, "ghost", wrong)
    ghost = AuditLog.objects.filter(action="login_failed").latest("id")
    assert ghost.content_type is None and ghost.object_repr == "ghost"
    assert ghost.message.startswith("用户名不存在")
    text = all_audit_text()
    assert wrong not in text and PASSWORD not in text and "*****" not in text


@pytest.mark.django_db
def test_disabled_account_cannot_log_in_and_the_attempt_is_logged(client, ops):
    ops.is_active = False
    ops.save()
    response = post_login(client, "ops1", PASSWORD)
    assert response.status_code == 200 and not signed_in(response)
    assert "用户名或密码不正确" in response.content.decode()
    row = AuditLog.objects.get(action="login_failed")
    assert row.object_id == str(ops.pk) and row.message.startswith("账号已停用")
    assert not AuditLog.objects.filter(action="login").exists()


@pytest.mark.django_db
def test_five_wrong_passwords_lock_the_username_and_ip(client, ops, ops2):
    for attempt in range(1, 5):
        response = post_login(client, "ops1", f"Wrong-{attempt}!Aa")
        assert response.status_code == 200, attempt
        assert "用户名或密码不正确" in response.content.decode()

    # The fifth failure locks the pair and shows the Chinese lockout page.
    response = post_login(client, "ops1", "Wrong-5!Aa")
    assert response.status_code == 429
    html = response.content.decode()
    assert "登录失败次数过多" in html and "15 分钟后再试" in html
    assert '<html lang="zh-CN">' in html

    # Locked: even the right password is refused from this address.
    response = post_login(client, "ops1", PASSWORD)
    assert response.status_code == 429 and not signed_in(response)
    assert "登录失败次数过多" in response.content.decode()

    # Another user from the same address still logs in.
    other = post_login(client.__class__(), "ops2", PASSWORD)
    assert other.status_code == 302 and signed_in(other)

    # The same user from another address is not locked (the lock is username + IP).
    elsewhere = post_login(client.__class__(), "ops1", PASSWORD, ip="10.9.9.9")
    assert elsewhere.status_code == 302 and signed_in(elsewhere)

    failures = AuditLog.objects.filter(action="login_failed", object_id=str(ops.pk))
    assert failures.count() == 6
    assert failures.filter(message__startswith="失败次数过多，已锁定").count() == 2
    assert AuditLog.objects.filter(action="login", actor=ops2).count() == 1


@pytest.mark.django_db
def test_successful_login_resets_the_failure_count(client, db):
    make_staff("resetme", "ops")
    for attempt in range(4):
        post_login(client, "resetme", f"Wrong-{attempt}!Aa")
    assert post_login(client, "resetme", PASSWORD).status_code == 302
    client.post(reverse("accounts:logout"))
    for attempt in range(4):
        response = post_login(client, "resetme", f"Wrong-{attempt}!Bb")
        assert response.status_code == 200
    assert post_login(client, "resetme", PASSWORD).status_code == 302


def test_admin_unlocks_a_locked_account(client, client_for, ops, admin_user):
    for attempt in range(5):
        post_login(client, "ops1", f"Wrong-{attempt}!Aa")
    assert post_login(client, "ops1", PASSWORD).status_code == 429

    admin = client_for(admin_user)
    page = admin.get(reverse("accounts:staff_edit", args=[ops.pk])).content.decode()
    assert "已锁定" in page and "解除锁定" in page
    response = admin.post(reverse("accounts:staff_unlock", args=[ops.pk]))
    assert response.status_code == 302
    row = AuditLog.objects.get(action="unlock")
    assert row.actor == admin_user and row.object_id == str(ops.pk)

    response = post_login(client.__class__(), "ops1", PASSWORD)
    assert response.status_code == 302 and signed_in(response)
    page = admin.get(reverse("accounts:staff_edit", args=[ops.pk])).content.decode()
    assert "解除锁定" not in page
