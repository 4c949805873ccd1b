import re
import threading

import pytest
from django.core.cache import caches

from apps.core.errors import ValidationFailed
from apps.sms import services
from apps.sms.gateways import captured_code
from apps.sms.services import code_hash, code_key, sms_send_code, sms_verify_code

PHONE = "+8613800138000"


def send(phone=PHONE, ip="203.0.113.5"):
    result = sms_send_code(phone=phone, purpose="register", ip=ip)
    return result, captured_code(phone)


def verify(code, phone=PHONE, purpose="register"):
    sms_verify_code(phone=phone, purpose=purpose, code=code)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def failure(code, **kw) -> str:
    with pytest.raises(ValidationFailed) as exc:
        verify(code, **kw)
    assert set(exc.value.fields) == {"code"}
    return exc.value.fields["code"][0]


def test_code_is_six_digits_valid_once(sms_cache, sms_clock):
    result, code = send()
    assert result.cooldown == 60
    assert re.fullmatch(r"\d{6}", code)
    verify(code)
    assert failure(code) == "验证码已失效，请重新获取"


def test_phone_may_be_typed_in_any_usual_form(sms_cache, sms_clock):
    sms_send_code(phone="138 0013 8000", purpose="register", ip="203.0.113.5")
    verify(captured_code(PHONE), phone="+86 138-0013-8000")


def test_code_is_stored_hashed_never_in_clear(sms_cache, sms_clock, settings, caplog):
    settings.SMS_BACKEND = "console"  # the capture backend keeps the code on purpose
    caplog.set_level("INFO", logger="apps.sms")
    sms_send_code(phone=PHONE, purpose="register", ip="203.0.113.5")
    code = re.search(r"验证码 (\d{6})", caplog.text).group(1)
    record = sms_cache.get(code_key(phone=PHONE, purpose="register"))
    assert record["hash"] == code_hash(phone=PHONE, purpose="register", code=code)
    assert code not in record["hash"]
    # Nothing anywhere in the cache holds the code or the phone number in clear.
    raw = caches["default"]._cache
    assert raw, "the cache should hold the code record and the limits"
    for key, value in raw.items():
        assert code.encode() not in value, key
        assert b"13800138000" not in value and "13800138000" not in key, key
    # The log line with the code masks the phone.
    assert "138****8000" in caplog.text and "13800138000" not in caplog.text


def test_expired_code_is_refused(sms_cache, sms_clock, settings):
    _, code = send()
    sms_clock.advance(settings.SMS_CODE_TTL)
    assert failure(code) == "验证码已失效，请重新获取"


def test_code_is_valid_until_just_before_its_expiry(sms_cache, sms_clock, settings):
    _, code = send()
    sms_clock.advance(settings.SMS_CODE_TTL - 1)
    verify(code)


def test_code_is_bound_to_its_phone(sms_cache, sms_clock):
    other = "+8613900139000"
    _, code_a = send(PHONE)
    _, code_b = send(other)
    assert failure(code_a, phone=other).startswith("验证码错误")
    verify(code_b, phone=other)
    verify(code_a)


def test_code_is_bound_to_its_purpose(sms_cache, sms_clock, monkeypatch):
    monkeypatch.setitem(services.PURPOSES, "login", "登录")
    _, code = send()
    assert failure(code, purpose="login") == "验证码已失效，请重新获取"
    sms_clock.advance(61)  # the limits are per phone, whatever the purpose
    sms_send_code(phone=PHONE, purpose="login", ip="203.0.113.5")
    login_code = captured_code(PHONE)
    if login_code != code:  # one in a million they coincide
        assert failure(login_code, purpose="register").startswith("验证码错误")
    verify(code, purpose="register")


def test_unknown_purpose_is_refused(sms_cache, sms_clock):
    with pytest.raises(ValidationFailed) as exc:
        sms_send_code(phone=PHONE, purpose="login", ip="203.0.113.5")
    assert set(exc.value.fields) == {"purpose"}


def test_a_new_code_replaces_the_previous_one(sms_cache, sms_clock):
    _, first = send()
    sms_clock.advance(61)
    _, second = send()
    if first != second:
        assert failure(first).startswith("验证码错误")
    verify(second)


def test_four_wrong_entries_then_the_right_one_passes(sms_cache, sms_clock):
    _, code = send()
    messages = [failure(wrong(code)) for _ in range(4)]
    assert messages == [f"验证码错误，还可输入 {n} 次" for n in (4, 3, 2, 1)]
    verify(code)


def test_fifth_wrong_entry_voids_the_code_even_for_the_right_one(sms_cache, sms_clock):
    _, code = send()
    for _ in range(4):
        failure(wrong(code))
    assert failure(wrong(code)) == "验证码错误次数过多，已失效，请重新获取"
    assert failure(code) == "验证码已失效，请重新获取"


def test_attempts_are_counted_before_comparing(sms_cache, sms_clock):
    """Even if the voided record were still there, a 6th entry is never compared."""
    _, code = send()
    key = code_key(phone=PHONE, purpose="register")
    record = sms_cache.get(key)
    for _ in range(5):
        failure(wrong(code))
    sms_cache.set(key, record, 300)  # put the voided code back, as a racing reader might see it
    sms_cache.delete(f"sms:used:{record['id']}")
    assert failure(code) == "验证码错误次数过多，已失效，请重新获取"


def test_malformed_code_does_not_cost_an_attempt(sms_cache, sms_clock):
    _, code = send()
    for bad in ("", "12345", "1234567", "abcdef"):
        assert failure(bad) == "请输入 6 位数字验证码"
    for _ in range(4):
        failure(wrong(code))
    verify(code)


def test_simultaneous_correct_entries_succeed_once(sms_cache, sms_clock):
    _, code = send()
    outcomes = []
    barrier = threading.Barrier(8)

    def enter():
        barrier.wait()
        try:
            verify(code)
            outcomes.append("ok")
        except ValidationFailed:
            outcomes.append("refused")

    threads = [threading.Thread(target=enter) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] + ["refused"] * 7


def test_parallel_guesses_get_no_more_tries_than_sequential_ones(sms_cache, sms_clock):
    _, code = send()
    barrier = threading.Barrier(20)
    messages = []

    def guess(n):
        barrier.wait()
        try:
            verify(f"{(int(code) + n) % 1_000_000:06d}")
        except ValidationFailed as exc:
            messages.append(exc.fields["code"][0])

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(1, 21)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    compared = [m for m in messages if m.startswith("验证码错误，还可")]
    assert len(compared) == 4  # the 5th compared one voids the code; the rest never compare
    assert failure(code) in {"验证码已失效，请重新获取", "验证码错误次数过多，已失效，请重新获取"}


def test_bad_phone_is_a_field_error(sms_cache, sms_clock):
    with pytest.raises(ValidationFailed) as exc:
        sms_send_code(phone="12345", purpose="register", ip="203.0.113.5")
    assert exc.value.fields == {"phone": ["请输入 11 位中国大陆手机号"]}
