"""Aliyun and Tencent Cloud gateways at their HTTP boundary, against a fake provider: an
http.server on 127.0.0.1 started by the test. No real network.

The signatures are checked two ways: the signing functions against the worked examples in
the providers' documentation, and every request the gateway sends re-verified here by an
independent implementation written from the providers' specifications."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

import pytest

from apps.sms.gateways import (
    AliyunGateway,
    SmsSendFailed,
    TencentGateway,
    aliyun_signature,
    tc3_authorization,
)
from apps.sms.tests.fixtures import KEY_ID, SECRET

PHONE = "+8613800138000"
CODE = "402913"


# --- Documented examples -----------------------------------------------------------------


def test_aliyun_signature_matches_the_documented_example():
    # Aliyun's RPC signature documentation: DescribeRegions with AccessKeyId "testid" and
    # AccessKeySecret "testsecret".
    params = {
        "Timestamp": "2016-02-23T12:46:24Z",
        "Format": "XML",
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "Version": "2014-05-26",
        "SignatureVersion": "1.0",
    }
    assert aliyun_signature("testsecret", "GET", params) == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_tc3_signature_matches_the_documented_example():
    # Tencent Cloud's signature v3 documentation: CVM DescribeInstances at 1551113065.
    authorization = tc3_authorization(
        secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
        secret_key="Gu5t9xGARNpq86cd98joQYCN3*******",
        service="cvm",
        timestamp=1551113065,
        payload='{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], '
        '"Name": "instance-name"}]}',
        headers={
            "content-type": "application/json; charset=utf-8",
            "host": "cvm.tencentcloudapi.com",
        },
    )
    assert authorization == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/"
        "tc3_request, SignedHeaders=content-type;host, "
        "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    )


# --- Independent verifiers (written from the providers' specifications) -----------------


def verify_aliyun_request(request: dict) -> dict[str, str]:
    params = dict(urllib.parse.parse_qsl(request["body"], keep_blank_values=True))
    signature = params.pop("Signature")

    def enc(s: str) -> str:
        return urllib.parse.quote(s, safe="~")

    query = "&".join(f"{enc(k)}={enc(params[k])}" for k in sorted(params))
    to_sign = "POST&%2F&" + enc(query)
    expected = base64.b64encode(
        hmac.new((SECRET + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    ).decode()
    assert signature == expected
    return params


def verify_tencent_request(request: dict) -> dict:
    headers = request["headers"]
    match = re.fullmatch(
        r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d\d-\d\d)/sms/tc3_request, "
        r"SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})",
        headers["authorization"],
    )
    assert match, headers["authorization"]
    secret_id, date, signed, signature = match.groups()
    assert secret_id == KEY_ID
    timestamp = int(headers["x-tc-timestamp"])
    assert date == dt.datetime.fromtimestamp(timestamp, dt.UTC).date().isoformat()
    assert abs(timestamp - time.time()) < 60
    names = signed.split(";")
    assert {"content-type", "host"} <= set(names)
    canonical = (
        "POST\n/\n\n"
        + "".join(f"{n}:{headers[n].strip().lower()}\n" for n in names)
        + "\n"
        + signed
        + "\n"
        + hashlib.sha256(request["body"].encode()).hexdigest()
    )
    to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            f"{date}/sms/tc3_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = ("TC3" + SECRET).encode()
    for part in (date, "sms", "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    assert signature == hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return json.loads(request["body"])


def assert_failure_logged(caplog, error: str) -> None:
    text = caplog.text
    assert f"error={error}" in text
    assert "backend=" in text and "138****8000" in text
    assert CODE not in text and "13800138000" not in text and SECRET not in text


# --- Aliyun --------------------------------------------------------------------------------


ALIYUN_OK = {"Message": "OK", "RequestId": "F655A8D5-B967-440B", "BizId": "9003", "Code": "OK"}


def test_aliyun_sends_a_signed_sendsms_request(provider):
    provider.body = ALIYUN_OK
    AliyunGateway().send_code(phone=PHONE, code=CODE, minutes=5)
    request = provider.last
    assert request["path"] == "/"
    assert request["headers"]["content-type"].startswith("application/x-www-form-urlencoded")
    params = verify_aliyun_request(request)
    assert params["Action"] == "SendSms" and params["Version"] == "2017-05-25"
    assert params["SignatureMethod"] == "HMAC-SHA1" and params["SignatureVersion"] == "1.0"
    assert params["AccessKeyId"] == KEY_ID and params["RegionId"] == "cn-hangzhou"
    assert params["Format"] == "JSON"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", params["Timestamp"])
    assert params["PhoneNumbers"] == "13800138000"
    assert params["SignName"] == "绘管家" and params["TemplateCode"] == "SMS_123456789"
    assert json.loads(params["TemplateParam"]) == {"code": CODE}
    assert SECRET not in request["body"]


def test_aliyun_nonce_differs_per_request(provider):
    provider.body = ALIYUN_OK
    AliyunGateway().send_code(phone=PHONE, code=CODE, minutes=5)
    AliyunGateway().send_code(phone=PHONE, code=CODE, minutes=5)
    nonces = {verify_aliyun_request(r)["SignatureNonce"] for r in provider.requests}
    assert len(nonces) == 2


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            200,
            {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发天级流控", "RequestId": "R1"},
            "isv.BUSINESS_LIMIT_CONTROL",
        ),
        (
            400,
            {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched"},
            "SignatureDoesNotMatch",
        ),
        (500, b"<html>Internal Server Error</html>", "http_500"),
        (200, {"Message": "no code at all"}, "http_200"),
    ],
)
def test_aliyun_error_replies(provider, caplog, status, body, error):
    provider.status, provider.body = status, body
    with pytest.raises(SmsSendFailed) as exc:
        AliyunGateway().send_code(phone=PHONE, code=CODE, minutes=5)
    assert exc.value.message == "短信发送失败，请稍后再试" and exc.value.status == 503
    assert_failure_logged(caplog, error)


def test_aliyun_message_echoing_the_code_is_scrubbed_from_the_log(provider, caplog):
    provider.body = {"Code": "isv.TEMPLATE_PARAMS_ILLEGAL", "Message": f"bad param {CODE}"}
    with pytest.raises(SmsSendFailed):
        AliyunGateway().send_code(phone=PHONE, code=CODE, minutes=5)
    assert_failure_logged(caplog, "isv.TEMPLATE_PARAMS_ILLEGAL")


def test_provider_timeout_fails_fast(provider, settings, caplog):
    settings.SMS_TIMEOUT = 0.3
    provider.delay = 1.5
    provider.body = ALIYUN_OK
    started = time.monotonic()
    with pytest.raises(SmsSendFailed):
        AliyunGateway().send_code(phone=PHONE, code=CODE, minutes=5)
    assert time.monotonic() - started < 1.4
    assert "sms send failed backend=aliyun" in caplog.text
    assert CODE not in caplog.text


# --- Tencent Cloud -------------------------------------------------------------------------


def tencent_reply(code="Ok", message="send success"):
    return {
        "Response": {
            "SendStatusSet": [
                {
                    "SerialNo": "5000:1045710669157053657849499619",
                    "PhoneNumber": PHONE,
                    "Fee": 1,
                    "SessionContext": "",
                    "Code": code,
                    "Message": message,
                    "IsoCode": "CN",
                }
            ],
            "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279",
        }
    }


def test_tencent_sends_a_signed_sendsms_request(provider):
    provider.body = tencent_reply()
    TencentGateway().send_code(phone=PHONE, code=CODE, minutes=5)
    request = provider.last
    headers = request["headers"]
    assert headers["x-tc-action"] == "SendSms" and headers["x-tc-version"] == "2021-01-11"
    assert headers["x-tc-region"] == "ap-guangzhou"
    assert headers["host"] == urllib.parse.urlsplit(provider.url).netloc
    assert headers["content-type"] == "application/json; charset=utf-8"
    payload = verify_tencent_request(request)
    assert payload == {
        "PhoneNumberSet": [PHONE],
        "SmsSdkAppId": "1400000001",
        "SignName": "绘管家",
        "TemplateId": "SMS_123456789",
        "TemplateParamSet": [CODE],
    }
    assert SECRET not in request["body"] and SECRET not in json.dumps(headers)


def test_tencent_region_comes_from_settings(provider, settings):
    settings.SMS_REGION = "ap-beijing"
    provider.body = tencent_reply()
    TencentGateway().send_code(phone=PHONE, code=CODE, minutes=5)
    assert provider.last["headers"]["x-tc-region"] == "ap-beijing"
    verify_tencent_request(provider.last)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {
                "Response": {
                    "Error": {
                        "Code": "AuthFailure.SignatureFailure",
                        "Message": "The provided credentials could not be validated.",
                    },
                    "RequestId": "ed93f3cb-f35e-473f-b9f3-0d451b8b79c6",
                }
            },
            "AuthFailure.SignatureFailure",
        ),
        (
            tencent_reply("LimitExceeded.PhoneNumberDailyLimit", "触发号码日限额"),
            "LimitExceeded.PhoneNumberDailyLimit",
        ),
        ({"Response": {"SendStatusSet": [], "RequestId": "x"}}, "EmptySendStatusSet"),
        (b"not json", "http_200"),
    ],
)
def test_tencent_error_replies(provider, caplog, body, error):
    provider.body = body
    with pytest.raises(SmsSendFailed) as exc:
        TencentGateway().send_code(phone=PHONE, code=CODE, minutes=5)
    assert exc.value.message == "短信发送失败，请稍后再试"
    assert_failure_logged(caplog, error)


# --- Through the public API ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("backend", ["aliyun", "tencent"])
def test_public_api_sends_through_the_provider_and_the_code_registers(
    backend, provider, sms_cache, settings, client
):
    settings.SMS_BACKEND = backend
    provider.body = ALIYUN_OK if backend == "aliyun" else tencent_reply()
    response = client.post(
        "/api/v1/public/sms-codes", {"phone": "13800138000"}, content_type="application/json"
    )
    assert response.status_code == 202 and response.json() == {"cooldown": 60}
    if backend == "aliyun":
        code = json.loads(verify_aliyun_request(provider.last)["TemplateParam"])["code"]
    else:
        code = verify_tencent_request(provider.last)["TemplateParamSet"][0]
    response = client.post(
        "/api/v1/public/registrations",
        {"name": "王经理", "phone": "13800138000", "code": code, "consent": True},
        content_type="application/json",
    )
    assert response.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("backend", ["aliyun", "tencent"])
def test_public_api_reports_a_provider_failure_in_chinese(
    backend, provider, sms_cache, settings, client, caplog
):
    settings.SMS_BACKEND = backend
    provider.body = (
        {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"}
        if backend == "aliyun"
        else tencent_reply("FailedOperation.PhoneNumberInBlacklist", "黑名单")
    )
    response = client.post(
        "/api/v1/public/sms-codes", {"phone": "13800138000"}, content_type="application/json"
    )
    assert response.status_code == 503
    assert response.json() == {
        "code": "sms_send_failed",
        "message": "短信发送失败，请稍后再试",
        "fields": {},
    }
    sent = (
        json.loads(verify_aliyun_request(provider.last)["TemplateParam"])["code"]
        if backend == "aliyun"
        else verify_tencent_request(provider.last)["TemplateParamSet"][0]
    )
    assert sent not in caplog.text and "13800138000" not in caplog.text
    assert "sms send failed" in caplog.text


def test_production_refuses_the_logging_backends():
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "PRODUCTION": "1",
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "onboarding.example.com",
        "SMS_BACKEND": "console",
        "DATASOURCE_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "SMS_BACKEND must be aliyun or tencent" in result.stderr
    env["SMS_BACKEND"] = "tencent"
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings"], env=env, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr
