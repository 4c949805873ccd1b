import threading

import pytest

from apps.core.errors import RateLimited
from apps.sms import gateways
from apps.sms.gateways import captured_code
from apps.sms.services import code_key, sms_send_code

PHONE = "+8613800138000"
IP = "203.0.113.5"


def send(phone=PHONE, ip=IP):
    return sms_send_code(phone=phone, purpose="register", ip=ip)


def refused(phone=PHONE, ip=IP) -> RateLimited:
    with pytest.raises(RateLimited) as exc:
        send(phone, ip)
    return exc.value


def phones(n: int, start: int = 13700000000) -> list[str]:
    return [f"+86{start + i}" for i in range(n)]


def test_second_send_within_60_seconds_is_refused_with_the_wait(sms_cache, sms_clock):
    send()
    err = refused()
    assert (err.status, err.retry_after, err.message) == (429, 60, "发送过于频繁，请 60 秒后再试")
    sms_clock.advance(45)
    err = refused()
    assert (err.retry_after, err.message) == (15, "发送过于频繁，请 15 秒后再试")
    sms_clock.advance(15)
    send()


def test_sixth_send_within_an_hour_is_refused(sms_cache, sms_clock):
    for _ in range(5):
        send()
        sms_clock.advance(61)
    err = refused()
    first_ago = 5 * 61
    assert err.retry_after == 3600 - first_ago
    assert err.message == "该手机号 1 小时内获取验证码次数已达上限，请 55 分钟后再试"
    # The window slides: the 6th may go exactly one hour after the 1st, not at the top of
    # the clock hour.
    sms_clock.advance(3600 - first_ago - 1)
    assert refused().retry_after == 1
    sms_clock.advance(1)
    send()
    sms_clock.advance(60)  # past the cooldown, but the 2nd send is still within the hour
    err = refused()
    assert err.retry_after == 1 and err.message.startswith("该手机号 1 小时内")
    sms_clock.advance(1)
    send()


def test_eleventh_send_within_a_day_is_refused(sms_cache, sms_clock):
    sent_at = []
    for hour in range(2):
        for _ in range(5):
            sent_at.append(sms_clock())
            send()
            sms_clock.advance(61)
        sms_clock.advance(3600)
    err = refused()
    assert err.retry_after == int(sent_at[0] + 86400 - sms_clock())
    assert err.message.startswith("该手机号 24 小时内获取验证码次数已达上限，请 ")
    assert err.message.endswith(" 小时后再试")
    sms_clock.advance(err.retry_after)
    send()


def test_a_refused_send_costs_nothing(sms_cache, sms_clock, settings):
    settings.SMS_IP_PER_HOUR = 2
    send(phones(1)[0])
    sms_clock.advance(1)
    send(phones(1, 13700000001)[0])
    # The IP is at its cap: this phone is refused, and its own allowance is given back ...
    refused(PHONE)
    # ... so from another network it can send at once (no 60 s cooldown was taken).
    send(PHONE, ip="198.51.100.7")
    # A send refused by the phone's cooldown does not count against the IP.
    settings.SMS_IP_PER_HOUR = 3
    refused(PHONE, ip="198.51.100.7")
    refused(PHONE, ip="198.51.100.7")
    send(phones(1, 13700000002)[0], ip="198.51.100.7")


def test_per_ip_cap(sms_cache, sms_clock, settings):
    settings.SMS_IP_PER_HOUR = 3
    for phone in phones(3):
        send(phone)
    err = refused(phones(1, 13600000000)[0])
    assert err.message.startswith("当前网络获取验证码过于频繁")
    assert 0 < err.retry_after <= 3600
    send(phones(1, 13600000000)[0], ip="198.51.100.7")  # another IP is not affected
    sms_clock.advance(err.retry_after)
    send(phones(1, 13600000001)[0])  # next window


def test_per_ip_daily_cap(sms_cache, sms_clock, settings):
    settings.SMS_IP_PER_DAY = 4
    for phone in phones(4):
        send(phone)
        sms_clock.advance(3600)
    err = refused(phones(1, 13600000000)[0])
    assert err.message.startswith("当前网络获取验证码过于频繁")


def test_global_cap(sms_cache, sms_clock, settings):
    settings.SMS_GLOBAL_PER_HOUR = 4
    for i, phone in enumerate(phones(4)):
        send(phone, ip=f"198.51.100.{i}")
    err = refused(phones(1, 13600000000)[0], ip="192.0.2.1")
    assert err.message.startswith("短信服务繁忙")
    assert err.retry_after > 0


def test_concurrent_sends_to_one_phone_send_once(sms_cache, sms_clock, caplog):
    caplog.set_level("INFO", logger="apps.sms.gateways")
    outcomes = _race(lambda i: send(PHONE, ip=f"198.51.100.{i}"), 16)
    assert outcomes.count("ok") == 1 and outcomes.count("limited") == 15
    assert sum("SMS (console) to 138****8000" in m for m in caplog.messages) == 1


def test_concurrent_sends_from_one_ip_stop_at_its_cap(sms_cache, sms_clock, settings):
    settings.SMS_IP_PER_HOUR = 5
    numbers = phones(16)
    outcomes = _race(lambda i: send(numbers[i]), 16)
    assert outcomes.count("ok") == 5
    assert sum(1 for p in numbers if captured_code(p)) == 5


def test_concurrent_sends_to_one_phone_respect_the_hourly_limit(sms_cache, sms_clock, settings):
    settings.SMS_COOLDOWN = 1
    outcomes = []
    for _round in range(8):
        outcomes += _race(lambda i: send(PHONE, ip=f"198.51.100.{i}"), 8)
        sms_clock.advance(2)
    assert outcomes.count("ok") == 5


def test_provider_failure_keeps_the_limits_and_leaves_no_code(sms_cache, sms_clock, settings):
    settings.SMS_BACKEND = "aliyun"
    settings.SMS_ENDPOINT = "http://127.0.0.1:9/"  # discard port: connection refused
    settings.SMS_TIMEOUT = 2
    with pytest.raises(gateways.SmsSendFailed) as exc:
        send()
    assert exc.value.status == 503 and exc.value.message == "短信发送失败，请稍后再试"
    assert sms_cache.get(code_key(phone=PHONE, purpose="register")) is None
    assert refused().retry_after == 60


def _race(call, n: int) -> list[str]:
    barrier = threading.Barrier(n)
    outcomes: list[str] = []

    def run(i):
        barrier.wait()
        try:
            call(i)
            outcomes.append("ok")
        except RateLimited:
            outcomes.append("limited")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes
