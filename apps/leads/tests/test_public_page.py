import re

import pytest
from django.test import Client

from apps.leads.models import Lead, QrChannel
from apps.leads.services import lead_register
from apps.sms.gateways import captured_code

pytestmark = pytest.mark.django_db

WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 13; V2154A) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5023 MMWEBSDK/20230701 "
    "MMWEBID/1234 MicroMessenger/8.0.40.2420(0x28002855) WeChat/arm64 Weixin NetType/WIFI"
)


def send_code(client, phone="13800138000", **extra):
    return client.post("/apply/", {"phone": phone, "name": "王经理", "send_code": "1"}, **extra)


def submit(client, phone="13800138000", name="王经理", code=None, **fields):
    extra = {k: fields.pop(k) for k in list(fields) if k.startswith("HTTP_")}
    data = {"name": name, "phone": phone, "code": code or captured_code(phone), "consent": "1"}
    data.update(fields)
    return client.post("/apply/", data, **extra)


def test_page_is_chinese_mobile_first_and_self_contained(client):
    response = client.get("/apply/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-CN">' in html
    assert 'name="viewport" content="width=device-width, initial-scale=1' in html
    for text in (
        "申请试用绘管家",
        "姓名",
        "手机号",
        "短信验证码",
        "获取验证码",
        "公司名称",
        "提交申请",
    ):
        assert text in html
    assert "/static/css/public.css" in html and "/static/js/apply.js" in html
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html), "no external assets"
    assert 'name="csrfmiddlewaretoken"' in html


def test_static_assets_are_served(client):
    for path in ("/static/css/public.css", "/static/js/apply.js"):
        response = client.get(path)
        assert response.status_code == 200, path
        body = b"".join(response.streaming_content)
        assert b"http://" not in body and b"https://" not in body


def test_channel_and_reference_from_the_link_are_carried_into_the_form(client):
    html = client.get("/apply/?ch=qr&ref=A1B2-C3<x>").content.decode()
    assert '<input type="hidden" name="ch" value="qr">' in html
    assert '<input type="hidden" name="ref" value="A1B2-C3x">' in html


def test_register_without_javascript(client, sms_cache, sms_clock):
    response = send_code(client)
    html = response.content.decode()
    assert response.status_code == 200
    assert "验证码已发送，请注意查收短信，60 秒后可重新获取" in html
    assert 'value="王经理"' in html and 'data-cooldown="60"' in html
    response = submit(client, company="万家物业", ch="", ref="")
    assert response.status_code == 302 and response["Location"] == "/apply/done/"
    done = client.get("/apply/done/")
    assert "申请已提交，我们会尽快与您联系" in done.content.decode()
    lead = Lead.objects.get()
    assert (lead.phone, lead.company, lead.channel) == ("+8613800138000", "万家物业", "web")


def test_qr_poster_link_records_channel_reference_and_owner(client, sms_cache, sms_clock, ops):
    qr = QrChannel.objects.create(name="业主大会海报", campaign="2026 春季", owner=ops)
    send_code(client)
    response = submit(client, ch="qr", ref=qr.code)
    assert response.status_code == 302
    lead = Lead.objects.get()
    assert (lead.channel, lead.channel_ref, lead.qr_channel, lead.owner) == (
        "qr",
        qr.code,
        qr,
        ops,
    )


def test_unknown_qr_reference_is_still_recorded(client, sms_cache, sms_clock):
    send_code(client)
    submit(client, ch="qr", ref="X")
    lead = Lead.objects.get()
    assert (lead.channel, lead.channel_ref, lead.qr_channel, lead.owner) == ("qr", "X", None, None)


def test_wechat_browser_is_detected_from_the_user_agent(client, sms_cache, sms_clock):
    send_code(client, HTTP_USER_AGENT=WECHAT_UA)
    submit(client, HTTP_USER_AGENT=WECHAT_UA)
    assert Lead.objects.get().channel == "wechat"


def test_wechat_link_without_the_wechat_browser(client, sms_cache, sms_clock):
    send_code(client)
    submit(client, ch="wechat")
    assert Lead.objects.get().channel == "wechat"


def test_errors_are_shown_next_to_the_fields_and_input_is_kept(client, sms_cache, sms_clock):
    send_code(client)
    code = captured_code("13800138000")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    response = submit(client, code=wrong, company="万家物业")
    html = response.content.decode()
    assert response.status_code == 200
    assert "验证码错误，还可输入 4 次" in html and "请检查标出的内容" in html
    assert 'value="万家物业"' in html and 'value="13800138000"' in html
    response = submit(client, name="", code=code)
    assert "请填写姓名" in response.content.decode()
    assert submit(client, code=code).status_code == 302


def test_rate_limited_send_shows_the_wait(client, sms_cache, sms_clock):
    send_code(client)
    sms_clock.advance(15)
    html = send_code(client).content.decode()
    assert "发送过于频繁，请 45 秒后再试" in html and 'data-cooldown="45"' in html


def test_bad_phone_on_send(client, sms_cache, sms_clock):
    html = send_code(client, phone="1380013").content.decode()
    assert "请输入 11 位中国大陆手机号" in html


def test_provider_failure_on_send(client, sms_cache, sms_clock, settings):
    settings.SMS_BACKEND = "tencent"
    settings.SMS_ENDPOINT = "http://127.0.0.1:9/"
    html = send_code(client).content.decode()
    assert "短信发送失败，请稍后再试" in html


def test_known_and_unknown_phones_get_identical_pages(sms_cache, sms_clock):
    lead_register(name="老客户", phone="13900139000")
    answers = []
    for phone in ("13900139000", "13800138000"):
        client = Client()
        sent = send_code(client, phone=phone)
        submitted = submit(client, phone=phone)
        done = client.get(submitted["Location"])
        answers.append(
            (
                sent.status_code,
                _without_tokens(sent.content),
                submitted.status_code,
                submitted["Location"],
                submitted.content,
                done.content,
            )
        )
    known, unknown = answers
    # The send page echoes the phone typed; apart from that, everything is identical.
    assert known[0] == unknown[0]
    assert known[1].replace(b"13900139000", b"13800138000") == unknown[1]
    assert known[2:] == unknown[2:]
    assert Lead.objects.get(phone="+8613900139000").repeat_count == 1


def _without_tokens(content: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", content)


def test_csrf_is_enforced_on_the_page(sms_cache, sms_clock):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/apply/", {"phone": "13800138000", "send_code": "1"})
    assert response.status_code == 403
    html = client.get("/apply/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = client.post(
        "/apply/", {"phone": "13800138000", "send_code": "1", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 200 and "验证码已发送" in response.content.decode()


def test_signed_in_staff_can_open_the_page_too(client_for, ops):
    assert client_for(ops).get("/apply/").status_code == 200


def test_only_get_and_post(client):
    assert client.put("/apply/").status_code == 405
    assert client.post("/apply/done/").status_code == 405


def test_consent_box_links_the_privacy_policy_and_is_required(client, sms_cache, sms_clock):
    html = client.get("/apply/").content.decode()
    assert 'name="consent"' in html and 'href="/apply/privacy/"' in html and "《隐私政策》" in html
    send_code(client)
    response = submit(client, consent="")
    html = response.content.decode()
    assert response.status_code == 200 and not Lead.objects.exists()
    assert "请阅读并勾选同意《隐私政策》" in html and 'value="王经理"' in html
    assert submit(client, consent="1").status_code == 302  # the code was not spent
    lead = Lead.objects.get()
    assert lead.consented_at is not None


def test_lead_page_shows_the_consent(client_for, ops, sms_cache, sms_clock):
    client = Client()
    send_code(client)
    submit(client)
    lead = Lead.objects.get()
    html = client_for(ops).get(f"/leads/{lead.pk}/").content.decode()
    assert "隐私政策" in html and "已同意" in html


def test_privacy_policy_page(client, settings):
    settings.PRIVACY_OPERATOR = "深圳绘管家科技有限公司"
    settings.PRIVACY_CONTACT = "privacy@example.com"
    response = client.get("/apply/privacy/")
    html = response.content.decode()
    assert response.status_code == 200
    for text in ("隐私政策", "深圳绘管家科技有限公司", "privacy@example.com", "个人信息保护法"):
        assert text in html
    for text in ("姓名", "手机号", "公司名称", "撤回同意"):
        assert text in html
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html)


def test_a_wrong_code_keeps_the_send_countdown(client, sms_cache, sms_clock):
    """After a wrong code the page comes back still counting down, instead of offering a
    获取验证码 the limits would refuse."""
    send_code(client)
    wrong = f"{(int(captured_code('13800138000')) + 1) % 1_000_000:06d}"
    sms_clock.advance(20)
    html = submit(client, code=wrong).content.decode()
    assert "验证码错误" in html and 'data-cooldown="40"' in html
    sms_clock.advance(45)
    html = submit(client, code=wrong).content.decode()
    assert 'data-cooldown="0"' in html
