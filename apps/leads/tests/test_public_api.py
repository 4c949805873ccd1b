import pytest
from django.test import Client

from apps.audit.models import AuditLog
from apps.leads.models import Lead, QrChannel
from apps.leads.services import lead_register
from apps.sms.gateways import captured_code

pytestmark = pytest.mark.django_db

SMS = "/api/v1/public/sms-codes"
REG = "/api/v1/public/registrations"
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI"
)


def post(client, url, data, **extra):
    return client.post(url, data, content_type="application/json", **extra)


def apply(client, phone="13800138000", name="王经理", ua="", **fields):
    response = post(client, SMS, {"phone": phone, "purpose": "register"})
    assert response.status_code == 202, response.content
    body = {"name": name, "phone": phone, "code": captured_code(phone), **fields, "consent": True}
    return post(client, REG, body, HTTP_USER_AGENT=ua)


def test_send_code_answers_202_with_the_cooldown(client, sms_cache, sms_clock):
    response = post(client, SMS, {"phone": "13800138000"})
    assert response.status_code == 202
    assert response.json() == {"cooldown": 60}
    assert len(captured_code("13800138000")) == 6


def test_second_code_within_60_seconds_is_429_with_the_wait(client, sms_cache, sms_clock):
    post(client, SMS, {"phone": "13800138000"})
    sms_clock.advance(20)
    response = post(client, SMS, {"phone": "13800138000"})
    assert response.status_code == 429
    assert response["Retry-After"] == "40"
    assert response.json() == {
        "code": "rate_limited",
        "message": "发送过于频繁，请 40 秒后再试",
        "fields": {},
    }


def test_sixth_code_in_an_hour_is_429(client, sms_cache, sms_clock):
    for _ in range(5):
        assert post(client, SMS, {"phone": "13800138000"}).status_code == 202
        sms_clock.advance(60)
    response = post(client, SMS, {"phone": "13800138000"})
    assert response.status_code == 429 and int(response["Retry-After"]) == 3600 - 300
    assert "1 小时内" in response.json()["message"]


def test_bad_phone_is_422_naming_the_field(client, sms_cache, sms_clock):
    response = post(client, SMS, {"phone": "1234"})
    assert response.status_code == 422
    assert response.json()["fields"] == {"phone": ["请输入 11 位中国大陆手机号"]}
    response = post(client, SMS, {"phone": "13800138000", "purpose": "login"})
    assert response.status_code == 422 and "purpose" in response.json()["fields"]


def test_registration_creates_the_lead(client, sms_cache, sms_clock):
    response = apply(client, company="万家物业")
    assert response.status_code == 201
    assert response.json() == {"message": "申请已提交，我们会尽快与您联系"}
    lead = Lead.objects.get()
    assert (lead.name, lead.phone, lead.company, lead.channel) == (
        "王经理",
        "+8613800138000",
        "万家物业",
        "web",
    )
    assert lead.source_ip == "127.0.0.1"
    assert AuditLog.objects.filter(action="apply", object_id=str(lead.pk)).exists()


def test_code_is_single_use(client, sms_cache, sms_clock):
    post(client, SMS, {"phone": "13800138000"})
    body = {
        "name": "王",
        "phone": "13800138000",
        "code": captured_code("13800138000"),
        "consent": True,
    }
    assert post(client, REG, body).status_code == 201
    response = post(client, REG, body)
    assert response.status_code == 422
    assert response.json()["fields"] == {"code": ["验证码已失效，请重新获取"]}


def test_wrong_code_and_field_errors_are_422(client, sms_cache, sms_clock):
    post(client, SMS, {"phone": "13800138000"})
    code = captured_code("13800138000")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    response = post(
        client, REG, {"name": "王", "phone": "13800138000", "code": wrong, "consent": True}
    )
    assert response.status_code == 422
    assert response.json()["fields"] == {"code": ["验证码错误，还可输入 4 次"]}
    # Field errors come first and do not burn the code.
    response = post(
        client, REG, {"name": "", "phone": "13800138000", "code": code, "consent": True}
    )
    assert response.status_code == 422 and response.json()["fields"] == {"name": ["请填写姓名"]}
    assert (
        post(
            client, REG, {"name": "王", "phone": "13800138000", "code": code, "consent": True}
        ).status_code
        == 201
    )


def test_missing_fields_are_named_in_chinese(client, sms_cache, sms_clock):
    response = post(client, REG, {})
    assert response.status_code == 422
    body = response.json()
    assert set(body["fields"]) == {"name", "phone", "code", "consent"}
    assert body["message"].startswith("姓名：请填写姓名")


def test_known_and_unknown_phones_get_byte_identical_answers(client, sms_cache, sms_clock):
    lead_register(name="老客户", phone="13900139000")
    known = post(client, SMS, {"phone": "13900139000"})
    unknown = post(client, SMS, {"phone": "13800138000"})
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert _headers(known) == _headers(unknown)

    known = post(
        client,
        REG,
        {
            "name": "老客户",
            "phone": "13900139000",
            "code": captured_code("139 0013 9000"),
            "consent": True,
        },
    )
    unknown = post(
        client,
        REG,
        {
            "name": "新客户",
            "phone": "13800138000",
            "code": captured_code("13800138000"),
            "consent": True,
        },
    )
    assert known.status_code == unknown.status_code == 201
    assert known.content == unknown.content
    assert _headers(known) == _headers(unknown)
    assert Lead.objects.get(phone="+8613900139000").repeat_count == 1


def _headers(response) -> dict:
    return {k: v for k, v in response.headers.items() if k not in {"X-Request-ID"}}


def test_wechat_browser_is_detected(client, sms_cache, sms_clock):
    assert apply(client, ua=WECHAT_UA).status_code == 201
    lead = Lead.objects.get()
    assert lead.channel == "wechat" and "MicroMessenger" in lead.user_agent


def test_qr_channel_and_reference_are_recorded(client, sms_cache, sms_clock, ops):
    qr = QrChannel.objects.create(name="物业博览会海报", owner=ops)
    assert apply(client, channel="qr", ref=qr.code, ua=WECHAT_UA).status_code == 201
    lead = Lead.objects.get()
    assert (lead.channel, lead.channel_ref, lead.qr_channel, lead.owner) == (
        "qr",
        qr.code,
        qr,
        ops,
    )


def test_channel_must_be_a_public_one(client, sms_cache, sms_clock):
    response = post(
        client,
        REG,
        {
            "name": "王",
            "phone": "13800138000",
            "code": "123456",
            "channel": "offline",
            "consent": True,
        },
    )
    assert response.status_code == 422 and "channel" in response.json()["fields"]


def test_public_api_needs_no_session_and_no_csrf_token(sms_cache, sms_clock):
    client = Client(enforce_csrf_checks=True)
    assert apply(client).status_code == 201


def test_public_endpoints_are_in_the_openapi_document(client):
    schema = client.get("/api/v1/openapi.json").json()
    send = schema["paths"]["/api/v1/public/sms-codes"]["post"]
    register = schema["paths"]["/api/v1/public/registrations"]["post"]
    assert {"202", "422", "429", "503"} <= set(send["responses"])
    assert {"201", "422"} <= set(register["responses"])
    assert not send.get("security") and not register.get("security")


def test_registration_needs_consent_to_the_privacy_policy(client, sms_cache, sms_clock):
    post(client, SMS, {"phone": "13800138000", "purpose": "register"})
    code = captured_code("13800138000")
    for consent in ({}, {"consent": False}):
        body = {"name": "王经理", "phone": "13800138000", "code": code, **consent}
        response = post(client, REG, body)
        assert response.status_code == 422
        assert response.json()["fields"] == {"consent": ["请阅读并勾选同意《隐私政策》"]}
        assert response.json()["message"] == "请阅读并勾选同意《隐私政策》"
    # The code was not spent on the refusal: the applicant ticks the box and goes on.
    body = {"name": "王经理", "phone": "13800138000", "code": code, "consent": True}
    assert post(client, REG, body).status_code == 201
    lead = Lead.objects.get()
    assert lead.consented_at is not None and lead.consented_at == lead.registered_at
