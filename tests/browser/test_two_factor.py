"""A 开发运维 member binds an authenticator and logs in with it, in real Chromium. The
authenticator is played by the test: it reads the secret the page shows for manual entry
and computes codes on a clock it moves by hand (the live server shares it)."""

from __future__ import annotations

import base64
import time
import types

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp import models as totp_models

from apps.accounts.tests.factories import make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch, settings):
    settings.TWO_FACTOR_ENFORCED = True
    fake = Clock()
    monkeypatch.setattr(totp_models, "time", types.SimpleNamespace(time=fake.time))
    return fake


def authenticator_code(secret_text: str, clock: Clock) -> str:
    secret = secret_text.replace(" ", "")
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    totp = TOTP(key, 30, 0, 6, 0)
    totp.time = clock.now
    return f"{totp.token():06d}"


def test_devops_binds_an_authenticator_and_logs_in_with_it(page, clock):
    make_staff("devops9", "devops", name="运维小周")
    page.goto(f"{page.base_url}/accounts/login/")
    page.fill("input[name=username]", "devops9")
    page.fill("input[name=password]", "Pa$$w0rd!x")
    page.click("button[type=submit]")

    # The role must bind an authenticator first: the QR code and the secret are shown.
    page.wait_for_selector("text=绑定身份验证器")
    assert page.locator("#totp-qr img").count() == 1
    secret = page.inner_text("#totp-secret")
    page.fill("#id_token", "000000")
    page.click("button:has-text('完成绑定')")
    page.wait_for_selector("text=验证码不正确")
    assert page.inner_text("#totp-secret") == secret  # the same binding, still unconfirmed
    time.sleep(1.1)  # a failure is throttled for a second
    page.fill("#id_token", authenticator_code(secret, clock))
    page.click("button:has-text('完成绑定')")
    page.wait_for_selector("text=已启用二次验证")
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.click("text=我已保存，进入控制台")
    page.wait_for_selector("text=工作台")

    # Log out, log in again: the password, then the code of the next 30-second step.
    page.click("text=退出登录")
    page.wait_for_selector("input[name=username]")
    page.fill("input[name=username]", "devops9")
    page.fill("input[name=password]", "Pa$$w0rd!x")
    page.click("button[type=submit]")
    page.wait_for_selector("text=二次验证")
    clock.now += 30
    page.fill("#id_token", authenticator_code(secret, clock))
    page.click("button:has-text('验证并登录')")
    page.wait_for_selector("text=工作台")
    assert "运维小周" in page.inner_text(".topbar")
