"""Two-factor login with a controlled clock: enrolment, the second step, a code refused the
second time, recovery codes spent once, throttling, reset by an administrator, and API
tokens untouched."""

from __future__ import annotations

import re
import types

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp import models as totp_models
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import twofactor
from apps.accounts.models import RecoveryCode
from apps.audit.models import AuditLog

pytestmark = pytest.mark.django_db

PASSWORD = "Pa$$w0rd!x"
LOGIN = reverse("accounts:login")
VERIFY = reverse("accounts:two_factor_verify")
SETUP = reverse("accounts:two_factor_setup")
HOME = reverse("console:dashboard")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch, settings):
    """TOTP's clock, moved by hand; the second factor enforced for the roles that need it."""
    settings.TWO_FACTOR_ENFORCED = True
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # throttling has its own test
    fake = Clock()
    monkeypatch.setattr(totp_models, "time", types.SimpleNamespace(time=fake.time))
    return fake


def code_for(device: TOTPDevice, clock: Clock) -> str:
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = clock.now
    return f"{totp.token():06d}"


def password_login(username: str) -> Client:
    client = Client()
    response = client.post(LOGIN, {"username": username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def enrol(user, clock) -> tuple[TOTPDevice, list[str]]:
    device = twofactor.enrolment_start(user=user)
    codes = twofactor.enrolment_confirm(user=user, device=device, token=code_for(device, clock))
    assert codes is not None
    clock.advance(30)  # the enrolment code is spent
    return device, codes


def test_devops_must_enrol_and_sees_the_qr_code_until_confirmed(clock, devops):
    client = password_login("devops1")
    # Every page leads to enrolment; HTMX gets an HX-Redirect; the API a JSON 403.
    assert client.get(HOME)["Location"] == SETUP
    assert client.get(HOME, headers={"HX-Request": "true"})["HX-Redirect"] == SETUP
    api = client.get("/api/v1/me")
    assert api.status_code == 403 and api.json()["code"] == "second_factor_enrolment_required"

    page = client.get(SETUP)
    html = page.content.decode()
    assert (
        page.status_code == 200 and "data:image/svg+xml;base64," in html and "totp-secret" in html
    )
    device = TOTPDevice.objects.get(user=devops, confirmed=False)
    # A wrong code: still unconfirmed, the same QR shown again with an error.
    wrong = client.post(SETUP, {"token": "000000"})
    assert "验证码不正确" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=devops, confirmed=True).exists()

    done = client.post(SETUP, {"token": code_for(device, clock)})
    codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", done.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get(HOME).status_code == 200  # verified by the enrolment itself
    # Never shown again: the setup page now only says it is on.
    again = client.get(SETUP).content.decode()
    assert "data:image/svg" not in again and "已启用" in again
    # Only digests are stored.
    stored = list(RecoveryCode.objects.values_list("digest", flat=True))
    assert len(stored) == 10 and not set(codes) & set(stored)
    assert AuditLog.objects.filter(action="two_factor_enable", object_id=str(devops.pk)).exists()


def test_login_with_a_code_and_the_same_code_refused_a_second_time(clock, devops):
    device, _codes = enrol(devops, clock)
    client = password_login("devops1")
    response = client.get(reverse("customers:list"))
    assert response.status_code == 302 and response["Location"].startswith(VERIFY)
    code = code_for(device, clock)
    response = client.post(VERIFY, {"token": code, "next": reverse("customers:list")})
    assert response["Location"] == reverse("customers:list")
    assert client.get(HOME).status_code == 200

    replay = password_login("devops1")
    refused = replay.post(VERIFY, {"token": code})
    assert refused.status_code == 200 and "不正确或已使用过" in refused.content.decode()
    assert replay.get(HOME).status_code == 302

    clock.advance(30)
    accepted = replay.post(VERIFY, {"token": code_for(device, clock)})
    assert accepted.status_code == 302 and replay.get(HOME).status_code == 200


def test_a_recovery_code_works_once(clock, devops):
    _device, codes = enrol(devops, clock)
    first = password_login("devops1")
    assert first.post(VERIFY, {"token": codes[3].upper()}).status_code == 302
    assert first.get(HOME).status_code == 200
    second = password_login("devops1")
    assert second.post(VERIFY, {"token": codes[3]}).status_code == 200
    assert second.get(HOME).status_code == 302
    row = AuditLog.objects.get(action="recovery_code_used")
    assert "剩余 9 个" in row.message and codes[3] not in row.message


def test_failures_are_throttled_and_end_the_session(clock, devops, settings):
    device, _codes = enrol(devops, clock)
    settings.OTP_TOTP_THROTTLE_FACTOR = 1
    client = password_login("devops1")
    client.post(VERIFY, {"token": "123456"})
    # Throttled after a failure: even the right code waits (and counts as a failure).
    assert client.post(VERIFY, {"token": code_for(device, clock)}).status_code == 200
    for _ in range(2):
        client.post(VERIFY, {"token": "654321"})
    assert client.get(HOME).status_code == 302
    response = client.post(VERIFY, {"token": "111111"})
    assert response["Location"] == LOGIN  # fifth failure: signed out
    assert "_auth_user_id" not in client.session
    assert AuditLog.objects.filter(action="two_factor_failed").count() == 5


def test_admin_resets_a_second_factor(clock, devops, admin_user, settings):
    enrol(devops, clock)
    settings.TWO_FACTOR_ENFORCED = False  # the administrator's own second step is not the point
    admin = Client()
    admin.force_login(admin_user)
    page = admin.get(reverse("accounts:staff_edit", args=[devops.pk])).content.decode()
    assert "已启用二次验证" in page
    response = admin.post(reverse("accounts:staff_2fa_reset", args=[devops.pk]))
    assert response.status_code == 302
    devops.refresh_from_db()
    assert not twofactor.has_second_factor(devops)
    assert not TOTPDevice.objects.filter(user=devops).exists()
    assert not RecoveryCode.objects.exists()
    row = AuditLog.objects.get(action="two_factor_reset")
    assert row.actor == admin_user and row.object_id == str(devops.pk)

    settings.TWO_FACTOR_ENFORCED = True
    client = password_login("devops1")
    assert client.get(HOME)["Location"] == SETUP


def test_the_reset_is_for_administrators_only(clock, devops, ops):
    client = Client()
    client.force_login(ops)
    assert client.post(reverse("accounts:staff_2fa_reset", args=[devops.pk])).status_code == 403


def test_second_factor_is_optional_for_operations_staff(clock, ops):
    client = password_login("ops1")
    assert client.get(HOME).status_code == 200
    device, _codes = enrol(ops, clock)
    # Once enrolled, it is asked for.
    client = password_login("ops1")
    assert client.get(HOME).status_code == 302
    assert client.post(VERIFY, {"token": code_for(device, clock)}).status_code == 302
    assert client.get(HOME).status_code == 200


def test_api_tokens_never_meet_the_second_step(clock, devops, admin_user):
    from apps.accounts.services import token_issue

    _token, raw = token_issue(actor=None, user=devops, name="CI", scopes=["api"])
    response = Client().get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200 and response.json()["username"] == "devops1"


def test_the_gate_costs_no_query_for_staff_who_need_no_second_factor(clock, ops, settings):
    """Checked on every request: the requirement is a permission, answered by the
    permission cache the page's own checks fill, and enrolment is a column of the user."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(ops)
    url = reverse("customers:list")
    client.get(url)

    def count(enforced: bool) -> int:
        settings.TWO_FACTOR_ENFORCED = enforced
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    assert count(True) == count(False)


def test_keyholding_roles_hold_the_permission(devops, admin_user, ops, manager):
    from apps.accounts.roles import SECOND_FACTOR_PERM

    assert devops.has_perm(SECOND_FACTOR_PERM) and admin_user.has_perm(SECOND_FACTOR_PERM)
    assert not ops.has_perm(SECOND_FACTOR_PERM) and not manager.has_perm(SECOND_FACTOR_PERM)
