"""SMS gateways behind one interface, chosen by ``SMS_BACKEND``.

- ``console``: development; writes the code to the log (phone masked). Never in production.
- ``capture``: benchmarks and tests; logs like ``console`` and also keeps the last code per
  phone in the cache, so a client in another process can read it (``captured_code``).
- ``aliyun``: Aliyun SMS ``SendSms`` (RPC style, API 2017-05-25, signature HMAC-SHA1),
  ``https://dysmsapi.aliyuncs.com``; template parameter ``{"code": "123456"}``.
- ``tencent``: Tencent Cloud SMS ``SendSms`` (API 2021-01-11, signature TC3-HMAC-SHA256),
  ``https://sms.tencentcloudapi.com``; template parameters ``["123456"]``.

Two templates: the verification code (``SMS_TEMPLATE_ID``) and notices to staff
(``SMS_NOTICE_TEMPLATE_ID``, e.g. 到期提醒; its parameters come with the notice, see
``apps.sms.notices``).

Keys, sign name, template id, app id, region and an endpoint override (used by the tests,
which run a local HTTP server) come from settings, i.e. from the environment. A provider
failure raises ``SmsSendFailed`` (Chinese message for the applicant) after one log line that
names the provider's error but never the code or the full phone number.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache

from apps.core import validators as v
from apps.core.errors import DomainError, ErrorCode

log = logging.getLogger(__name__)


class SmsSendFailed(DomainError):
    status = 503
    code = ErrorCode.SMS_SEND_FAILED
    default_message = "短信发送失败，请稍后再试"


class SmsGateway:
    name = "base"

    def send_code(self, *, phone: str, code: str, minutes: int) -> None:
        """Send ``code`` to ``phone`` (E.164, +86…); raise SmsSendFailed on failure."""
        self._send(phone, settings.SMS_TEMPLATE_ID, (("code", code),), redact=code)

    def send_notice(self, *, phone: str, text: str, params: tuple[tuple[str, str], ...]) -> None:
        """Send a notice to a member of staff with the notice template
        (``SMS_NOTICE_TEMPLATE_ID``); ``params`` fill it by name (Aliyun) or position
        (Tencent). Raise SmsSendFailed on failure."""
        self._send(phone, settings.SMS_NOTICE_TEMPLATE_ID, params)

    def _send(
        self, phone: str, template: str, params: tuple[tuple[str, str], ...], redact: str = ""
    ) -> None:
        raise NotImplementedError

    def _failed(self, phone: str, redact: str, error: str, detail: str = "") -> SmsSendFailed:
        detail = detail or ""
        if redact:
            detail = detail.replace(redact, "******")
        detail = detail[:200]
        log.warning(
            "sms send failed backend=%s phone=%s error=%s detail=%s",
            self.name,
            v.mask_phone(phone),
            error,
            detail,
        )
        return SmsSendFailed()


class ConsoleGateway(SmsGateway):
    name = "console"

    def send_code(self, *, phone: str, code: str, minutes: int) -> None:
        log.info(
            "SMS (console) to %s: 验证码 %s，%d 分钟内有效", v.mask_phone(phone), code, minutes
        )

    def send_notice(self, *, phone: str, text: str, params: tuple[tuple[str, str], ...]) -> None:
        log.info("SMS (console) to %s: %s", v.mask_phone(phone), text)


CAPTURE_KEY = "sms:capture:{phone}"


class CaptureGateway(ConsoleGateway):
    name = "capture"

    def send_code(self, *, phone: str, code: str, minutes: int) -> None:
        super().send_code(phone=phone, code=code, minutes=minutes)
        cache.set(CAPTURE_KEY.format(phone=v.mobile_e164(phone)), code, minutes * 60)


def captured_code(phone: str) -> str | None:
    """The last code the capture backend sent to ``phone``."""
    return cache.get(CAPTURE_KEY.format(phone=v.mobile_e164(phone)))


def _post(
    url: str, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int, dict[str, Any] | None, str]:
    """POST and parse a JSON answer: (HTTP status, JSON or None, raw text for the log)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    text = raw.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    return status, data if isinstance(data, dict) else None, text


# --- Aliyun ----------------------------------------------------------------------------------


def aliyun_quote(value: str) -> str:
    """Aliyun's percent-encoding (RFC 3986: only A-Z a-z 0-9 - _ . ~ unescaped, UTF-8)."""
    return urllib.parse.quote(str(value), safe="-_.~")


def aliyun_string_to_sign(method: str, params: dict[str, str]) -> str:
    canonical = "&".join(f"{aliyun_quote(k)}={aliyun_quote(params[k])}" for k in sorted(params))
    return f"{method}&{aliyun_quote('/')}&{aliyun_quote(canonical)}"


def aliyun_signature(secret: str, method: str, params: dict[str, str]) -> str:
    """RPC signature version 1.0: Base64(HMAC-SHA1(secret + "&", StringToSign))."""
    digest = hmac.new(
        f"{secret}&".encode(), aliyun_string_to_sign(method, params).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


class AliyunGateway(SmsGateway):
    name = "aliyun"
    default_endpoint = "https://dysmsapi.aliyuncs.com/"

    def _send(
        self, phone: str, template: str, values: tuple[tuple[str, str], ...], redact: str = ""
    ) -> None:
        params = {
            "AccessKeyId": settings.SMS_ACCESS_KEY_ID,
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": settings.SMS_REGION or "cn-hangzhou",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
            "PhoneNumbers": v.normalize_mobile(phone),
            "SignName": settings.SMS_SIGN_NAME,
            "TemplateCode": template,
            "TemplateParam": json.dumps(dict(values), ensure_ascii=False),
        }
        params["Signature"] = aliyun_signature(settings.SMS_ACCESS_KEY_SECRET, "POST", params)
        body = "&".join(f"{aliyun_quote(k)}={aliyun_quote(val)}" for k, val in params.items())
        try:
            status, data, text = _post(
                settings.SMS_ENDPOINT or self.default_endpoint,
                body.encode(),
                {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
                settings.SMS_TIMEOUT,
            )
        except (OSError, ValueError) as exc:
            raise self._failed(phone, redact, type(exc).__name__, str(exc)) from None
        if data is None:
            raise self._failed(phone, redact, f"http_{status}", text)
        if data.get("Code") != "OK":
            detail = f"{data.get('Message', '')} request_id={data.get('RequestId', '')}"
            raise self._failed(phone, redact, str(data.get("Code") or f"http_{status}"), detail)


# --- Tencent Cloud ---------------------------------------------------------------------------


def tc3_authorization(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    timestamp: int,
    payload: str,
    headers: dict[str, str],
) -> str:
    """Tencent Cloud API signature v3 (TC3-HMAC-SHA256) of a POST to ``/``.

    ``headers`` are the headers to sign (lower-case names → values), e.g. content-type and
    host."""
    names = sorted(headers)
    canonical_headers = "".join(f"{n}:{headers[n].strip().lower()}\n" for n in names)
    signed_headers = ";".join(names)
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            "",
            canonical_headers,
            signed_headers,
            hashlib.sha256(payload.encode()).hexdigest(),
        ]
    )
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )

    def sign(key: bytes, message: str) -> bytes:
        return hmac.new(key, message.encode(), hashlib.sha256).digest()

    key = sign(f"TC3{secret_key}".encode(), date)
    key = sign(key, service)
    key = sign(key, "tc3_request")
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )


class TencentGateway(SmsGateway):
    name = "tencent"
    default_endpoint = "https://sms.tencentcloudapi.com/"
    service = "sms"
    action = "SendSms"
    version = "2021-01-11"

    def _send(
        self, phone: str, template: str, values: tuple[tuple[str, str], ...], redact: str = ""
    ) -> None:
        endpoint = settings.SMS_ENDPOINT or self.default_endpoint
        host = urllib.parse.urlsplit(endpoint).netloc
        payload = json.dumps(
            {
                "PhoneNumberSet": [v.mobile_e164(phone)],
                "SmsSdkAppId": settings.SMS_APP_ID,
                "SignName": settings.SMS_SIGN_NAME,
                "TemplateId": template,
                "TemplateParamSet": [value for _name, value in values],
            },
            ensure_ascii=False,
        )
        timestamp = int(dt.datetime.now(dt.UTC).timestamp())
        content_type = "application/json; charset=utf-8"
        authorization = tc3_authorization(
            secret_id=settings.SMS_ACCESS_KEY_ID,
            secret_key=settings.SMS_ACCESS_KEY_SECRET,
            service=self.service,
            timestamp=timestamp,
            payload=payload,
            headers={"content-type": content_type, "host": host, "x-tc-action": self.action},
        )
        headers = {
            "Authorization": authorization,
            "Content-Type": content_type,
            "Host": host,
            "X-TC-Action": self.action,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": self.version,
            "X-TC-Region": settings.SMS_REGION or "ap-guangzhou",
        }
        try:
            status, data, text = _post(endpoint, payload.encode(), headers, settings.SMS_TIMEOUT)
        except (OSError, ValueError) as exc:
            raise self._failed(phone, redact, type(exc).__name__, str(exc)) from None
        response = (data or {}).get("Response")
        if not isinstance(response, dict):
            raise self._failed(phone, redact, f"http_{status}", text)
        request_id = response.get("RequestId", "")
        error = response.get("Error")
        if error:
            detail = f"{error.get('Message', '')} request_id={request_id}"
            raise self._failed(phone, redact, str(error.get("Code", "Error")), detail)
        statuses = response.get("SendStatusSet") or []
        if not statuses or any(s.get("Code") != "Ok" for s in statuses):
            first = next((s for s in statuses if s.get("Code") != "Ok"), {})
            detail = f"{first.get('Message', '')} request_id={request_id}"
            raise self._failed(phone, redact, str(first.get("Code", "EmptySendStatusSet")), detail)


BACKENDS: dict[str, type[SmsGateway]] = {
    "console": ConsoleGateway,
    "capture": CaptureGateway,
    "aliyun": AliyunGateway,
    "tencent": TencentGateway,
}


def get_gateway() -> SmsGateway:
    try:
        return BACKENDS[settings.SMS_BACKEND]()
    except KeyError:
        raise RuntimeError(
            f"SMS_BACKEND must be one of {', '.join(BACKENDS)}, not {settings.SMS_BACKEND!r}"
        ) from None
