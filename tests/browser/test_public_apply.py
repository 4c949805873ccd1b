"""An applicant on a phone, inside WeChat, scans a QR poster and applies: /apply/ at a phone
viewport, 获取验证码 through the public API with its countdown, then the success page."""

import re

import pytest

from apps.leads.models import Lead, QrChannel
from apps.sms.gateways import captured_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE_VIEWPORT = {"width": 375, "height": 667}
WECHAT_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI "
    "Language/zh_CN"
)


@pytest.fixture
def phone_page(browser, live_server, sms_cache):
    context = browser.new_context(
        viewport=PHONE_VIEWPORT,
        user_agent=WECHAT_IPHONE,
        locale="zh-CN",
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.base_url = live_server.url
    yield page
    context.close()


def test_apply_from_a_qr_poster_inside_wechat_on_a_phone(phone_page):
    page = phone_page
    qr = QrChannel.objects.create(name="物业博览会海报")
    page.goto(f"{page.base_url}/apply/?ch=qr&ref={qr.code}")
    assert page.title() == "入驻申请 · 绘管家"
    assert page.locator("h1").inner_text() == "申请试用绘管家"
    # Fits the phone's width: nothing to scroll sideways, the button beside the code field.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
    code_box = page.locator("#f-code").bounding_box()
    button_box = page.locator("#send-code").bounding_box()
    assert button_box["x"] + button_box["width"] <= PHONE_VIEWPORT["width"]
    assert abs(code_box["y"] - button_box["y"]) < 2

    page.fill("#f-name", "王经理")
    page.fill("#f-phone", "13800138000")
    page.click("#send-code")
    page.wait_for_selector("#code-notice:has-text('验证码已发送，请注意查收短信')")
    button = page.locator("#send-code")
    assert re.fullmatch(r"(60|59) 秒后重新获取", button.inner_text())
    assert button.is_disabled()
    assert page.url.endswith(f"/apply/?ch=qr&ref={qr.code}")  # no page load: the API was used

    code = captured_code("13800138000")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    page.fill("#f-code", wrong)
    page.fill("#f-company", "万家物业")
    page.click("text=提交申请")
    # Neither the missing consent nor a wrong code loses the countdown or the input.
    page.wait_for_selector(".error[data-for=consent]:has-text('请阅读并勾选同意《隐私政策》')")
    page.check("input[name=consent]")
    page.click("text=提交申请")
    page.wait_for_selector(".error[data-for=code]:has-text('验证码错误')")
    assert re.fullmatch(r"\d{2} 秒后重新获取", page.locator("#send-code").inner_text())
    assert page.locator("#send-code").is_disabled()
    assert page.input_value("#f-company") == "万家物业"
    assert page.is_checked("input[name=consent]")
    page.fill("#f-code", code)
    page.click("text=提交申请")
    page.wait_for_selector("h1:has-text('申请已提交，我们会尽快与您联系')")
    lead = Lead.objects.get()
    assert (lead.channel, lead.channel_ref, lead.qr_channel_id, lead.company) == (
        "qr",
        qr.code,
        qr.pk,
        "万家物业",
    )
    assert "MicroMessenger" in lead.user_agent


def test_send_code_errors_appear_under_the_field(phone_page):
    page = phone_page
    page.goto(f"{page.base_url}/apply/")
    page.fill("#f-phone", "1380013")
    page.click("#send-code")
    page.wait_for_selector(".error[data-for=phone]:has-text('请输入 11 位中国大陆手机号')")
    assert not page.locator("#send-code").is_disabled()
    page.fill("#f-phone", "13800138000")
    page.click("#send-code")
    page.wait_for_selector("#code-notice:has-text('验证码已发送')")
    assert page.locator(".error[data-for=phone]").count() == 0


def test_enter_in_the_code_field_submits_the_application(phone_page):
    page = phone_page
    page.goto(f"{page.base_url}/apply/")
    page.fill("#f-name", "李经理")
    page.fill("#f-phone", "13900139000")
    page.click("#send-code")
    page.wait_for_selector("#code-notice:has-text('验证码已发送')")
    page.fill("#f-code", captured_code("13900139000"))
    page.check("input[name=consent]")
    page.press("#f-code", "Enter")
    page.wait_for_selector("h1:has-text('申请已提交，我们会尽快与您联系')")
    assert Lead.objects.get().name == "李经理"


def test_desktop_browser_gets_the_same_page(page, sms_cache):
    page.goto(f"{page.base_url}/apply/")
    sheet = page.locator(".sheet").bounding_box()
    assert sheet["width"] <= 480  # one readable column, centred
    assert abs((sheet["x"] + sheet["width"] / 2) - 1366 / 2) < 2
