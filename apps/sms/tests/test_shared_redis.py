"""The limits hold across app processes: two real gunicorn servers share one Redis.

Each server is its own process with its own memory; only Redis (REDIS_URL, a key prefix of
this test's own) is shared. A code sent through server A puts the phone on cooldown for a
request through server B, and a code verified through one cannot be used again through the
other. Needs Redis on 127.0.0.1:6379 (scripts/services.sh starts it); TEST_REDIS_URL
overrides. Afterwards only this test's key prefix is deleted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.cache.backends.redis import RedisCache

from tests.servers import start_gunicorn, stop

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/3")
PHONE = "13800138000"


def _call(base: str, path: str, body: dict, forwarded: str | None = None) -> tuple[int, dict, dict]:
    headers = {"Content-Type": "application/json"}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory):
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is needed at {REDIS_URL} (scripts/services.sh starts it): {exc}")
    prefix = f"hgj-test-{uuid.uuid4().hex[:12]}"
    tmp = tmp_path_factory.mktemp("two-servers")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "TEST_DATABASE_NAME", "PRODUCTION", "DEBUG"}
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp / 'control.sqlite3'}",
        VAR_DIR=str(tmp),
        STATIC_ROOT=str(tmp / "static"),
        REDIS_URL=REDIS_URL,
        CACHE_KEY_PREFIX=prefix,
        SMS_BACKEND="capture",
        DJANGO_SETTINGS_MODULE="config.settings",
        LOG_LEVEL="WARNING",
        # The servers stand behind one proxy: the client is the right-most forwarded hop.
        TRUSTED_PROXY_COUNT="1",
    )
    root = Path(settings.BASE_DIR)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=root,
        env=env,
        check=True,
        timeout=120,
    )
    processes = []
    try:
        servers = []
        for name in ("a", "b"):
            base, process = start_gunicorn(env, tmp / f"server-{name}.log")
            servers.append(base)
            processes.append(process)
        shared = RedisCache(REDIS_URL, {"KEY_PREFIX": prefix})
        yield servers[0], servers[1], shared, client, prefix
    finally:
        for process in processes:
            stop(process)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


def test_cooldown_set_through_one_process_holds_in_the_other(two_servers):
    a, b, _shared, _client, _prefix = two_servers
    status, body, _ = _call(a, "/api/v1/public/sms-codes", {"phone": PHONE})
    assert (status, body) == (202, {"cooldown": 60})
    status, body, headers = _call(b, "/api/v1/public/sms-codes", {"phone": PHONE})
    assert status == 429
    assert body["code"] == "rate_limited" and "秒后再试" in body["message"]
    assert 55 <= int(headers["Retry-After"]) <= 60


def test_a_code_used_through_one_process_is_spent_in_the_other(two_servers):
    a, b, shared, _client, _prefix = two_servers
    phone = "13900139000"
    assert _call(b, "/api/v1/public/sms-codes", {"phone": phone})[0] == 202
    code = shared.get(f"sms:capture:+86{phone}")
    assert code and len(code) == 6
    registration = {"name": "王经理", "phone": phone, "code": code, "consent": True}
    assert _call(a, "/api/v1/public/registrations", registration)[0] == 201
    status, body, _ = _call(b, "/api/v1/public/registrations", registration)
    assert status == 422 and body["fields"] == {"code": ["验证码已失效，请重新获取"]}


def test_simultaneous_requests_to_both_processes_send_once(two_servers):
    a, b, _shared, _client, _prefix = two_servers
    phone = "13700137000"
    statuses: list[int] = []
    barrier = threading.Barrier(12)

    def hit(base):
        barrier.wait()
        statuses.append(_call(base, "/api/v1/public/sms-codes", {"phone": phone})[0])

    threads = [threading.Thread(target=hit, args=(a if i % 2 else b,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [202] + [429] * 11


def test_redis_holds_no_code_or_phone_in_clear(two_servers):
    a, _b, shared, client, prefix = two_servers
    phone = "13600136000"
    assert _call(a, "/api/v1/public/sms-codes", {"phone": phone})[0] == 202
    code = shared.get(f"sms:capture:+86{phone}")
    capture_key = f"{prefix}:1:sms:capture:+86{phone}".encode()
    keys = [k for k in client.scan_iter(match=f"{prefix}:*", count=500) if k != capture_key]
    assert any(b":sms:code:" in k for k in keys)
    for key in keys:
        assert phone.encode() not in key
        value = client.get(key) or b""
        assert code.encode() not in value, key
        assert phone.encode() not in value, key


def test_unicode_digit_phones_share_the_cooldown_across_processes(two_servers):
    a, b, _shared, _client, _prefix = two_servers
    assert _call(a, "/api/v1/public/sms-codes", {"phone": "13500135000"})[0] == 202
    for variant in ("１３５００１３５０００", "13٥00135000", "+86 135 0013 5000"):
        status, body, _ = _call(b, "/api/v1/public/sms-codes", {"phone": variant})
        assert status == 429, (variant, body)


def test_per_ip_cap_counts_the_real_client_whatever_it_forges(two_servers):
    """Behind the proxy, one client varying the left-most X-Forwarded-For still spends one
    per-IP allowance across both processes; another client is unaffected."""
    a, b, _shared, _client, _prefix = two_servers
    client_ip = "198.51.100.77"
    cap = settings.SMS_IP_PER_HOUR
    for i in range(cap):
        server = a if i % 2 else b
        forged = f"10.{i}.{i}.{i}, {client_ip}"
        status, body, _ = _call(
            server, "/api/v1/public/sms-codes", {"phone": f"1330000{i:04d}"}, forwarded=forged
        )
        assert status == 202, (i, body)
    status, body, _ = _call(
        a, "/api/v1/public/sms-codes", {"phone": "13399999999"}, forwarded=f"1.1.1.1, {client_ip}"
    )
    assert status == 429 and body["code"] == "rate_limited"
    other = _call(
        b, "/api/v1/public/sms-codes", {"phone": "13399999998"}, forwarded="198.51.100.78"
    )
    assert other[0] == 202
