"""The two robots' wire formats, at their HTTP boundary.

- 企业微信 group robot: ``POST <webhook>`` with ``{"msgtype": "text", "text": {"content":
  …}}``; the answer ``{"errcode": 0, "errmsg": "ok"}``.
- 钉钉 custom robot: the same shape (``{"msgtype": "text", "text": {"content": …}}``) to
  ``<webhook>&timestamp=<ms>&sign=<sign>`` when the robot is signed ("加签"): ``sign`` is
  Base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>")), URL-encoded; the answer
  ``{"errcode": 0, "errmsg": "ok"}``.

A refusal (``errcode`` ≠ 0), an HTTP error or a timeout raises ``RobotError`` with a Chinese
reason that never contains the webhook's key or the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings
from django.utils.translation import gettext as _

WECOM = "wecom"
DINGTALK = "dingtalk"
TEXT_MAX = 2000  # both robots cap a text message (企业微信 2048 bytes, 钉钉 20000)


class RobotError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_url(kind: str, webhook: str, secret: str, timestamp_ms: int | None = None) -> str:
    if kind != DINGTALK or not secret:
        return webhook
    timestamp_ms = timestamp_ms or int(time.time() * 1000)
    sign = urllib.parse.quote_plus(dingtalk_sign(secret, timestamp_ms))
    joiner = "&" if "?" in webhook else "?"
    return f"{webhook}{joiner}timestamp={timestamp_ms}&sign={sign}"


def payload(text: str) -> bytes:
    encoded = text.encode()
    if len(encoded) > TEXT_MAX:
        text = encoded[: TEXT_MAX - 3].decode(errors="ignore") + "…"
    return json.dumps({"msgtype": "text", "text": {"content": text}}, ensure_ascii=False).encode()


def post(kind: str, webhook: str, secret: str, text: str) -> None:
    """Send ``text``; raise RobotError when the robot did not take it."""
    url = signed_url(kind, webhook, secret)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise RobotError(_("Webhook 地址须以 https:// 开头"))
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=payload(text),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.ROBOT_TIMEOUT) as response:  # noqa: S310
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise RobotError(_("机器人服务返回 HTTP %(s)d") % {"s": exc.code}) from None
    except (OSError, ValueError) as exc:
        raise RobotError(_("无法连接机器人服务（%(e)s）") % {"e": type(exc).__name__}) from None
    try:
        answer = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        raise RobotError(_("机器人服务的回答无法解析")) from None
    code = answer.get("errcode") if isinstance(answer, dict) else None
    if code != 0:
        message = str(answer.get("errmsg", "")) if isinstance(answer, dict) else ""
        raise RobotError(
            _("机器人拒绝了消息（errcode %(c)s：%(m)s）") % {"c": code, "m": message[:100]}
        )
