"""Lead console pages: scope, filters (incl. overdue and date range), 待回访 ordering and
waiting time, constant query counts, HTMX modals and their HX headers, conversion through
the customer form, QR channels (PNG/SVG decoded), the dashboard figures."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
import zxingcpp
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from PIL import Image, ImageDraw

from apps.accounts.tests.factories import grant, make_staff
from apps.audit.models import AuditLog
from apps.customers.models import Customer
from apps.customers.tests.factories import make_customer
from apps.leads import services
from apps.leads.models import FollowUp, Lead

from .factories import make_lead

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def _names(response) -> list[str]:
    """Lead names in the order the page lists them (links to the detail pages)."""
    assert response.status_code == 200, response.status_code
    return re.findall(r'href="/leads/\d+/">([^<]+)</a>', response.content.decode())


# --- List, scope and filters -------------------------------------------------------------


def test_ops_see_their_own_and_the_pool_managers_see_all(client_for, ops, ops2, manager):
    make_lead(owner=ops, name="我的")
    make_lead(name="公海的")
    make_lead(owner=ops2, name="别人的")
    assert set(_names(client_for(ops).get(reverse("leads:list")))) == {"我的", "公海的"}
    assert set(_names(client_for(manager).get(reverse("leads:list")))) == {
        "我的",
        "公海的",
        "别人的",
    }


def test_list_filters_search_and_sort(client_for, manager, ops):
    a = make_lead(owner=ops, name="甲", company="阳光物业", phone="13812345671", channel="wechat")
    b = make_lead(name="乙", company="月亮物业", phone="13876543212", channel="qr")
    c = make_lead(owner=manager, channel="offline", name="丙", phone="13900139003")
    services.lead_close(actor=manager, lead=c, reason="no_need")
    _ = a, b
    client = client_for(manager)

    def listed(**params) -> set[str]:
        return set(_names(client.get(reverse("leads:list"), params)))

    assert listed(q="阳光") == {"甲"}
    assert listed(q="乙") == {"乙"}
    assert listed(q="138 7654 3212") == {"乙"}  # a whole number: exact
    assert listed(q="5671") == {"甲"}  # the last digits
    assert listed(status="not_interested") == {"丙"}
    assert listed(status="open") == {"甲", "乙"}
    assert listed(channel="wechat") == {"甲"}
    assert listed(owner="none") == {"乙"}
    assert listed(owner=str(ops.pk)) == {"甲"}
    assert listed(owner="me") == {"丙"}
    order = _names(client.get(reverse("leads:list"), {"sort": "name"}))
    assert order == sorted(order)
    assert _names(client.get(reverse("leads:list"), {"sort": "-name"})) == order[::-1]


def test_registration_date_range_is_inclusive_in_local_time(client_for, manager):
    today = timezone.localdate()
    make_lead(name="三天前", registered_ago=3 * DAY)
    make_lead(name="昨天", registered_ago=DAY)
    make_lead(name="今天")
    client = client_for(manager)

    def listed(**params) -> set[str]:
        return set(_names(client.get(reverse("leads:list"), params)))

    yesterday = (today - dt.timedelta(days=1)).isoformat()
    assert listed(date_from=yesterday) == {"昨天", "今天"}
    assert listed(date_to=yesterday) == {"昨天", "三天前"}
    assert listed(date_from=yesterday, date_to=yesterday) == {"昨天"}
    assert listed(date_from="not-a-date") == {"三天前", "昨天", "今天"}


def test_overdue_filter(client_for, manager, ops, settings):
    settings.LEAD_FIRST_CALL_HOURS = 24
    make_lead(name="逾期未打", registered_ago=25 * HOUR)
    make_lead(name="刚报名", registered_ago=2 * HOUR)
    make_lead(owner=ops, channel="offline", name="线下的")
    Lead.objects.filter(name="线下的").update(registered_at=timezone.now() - 3 * DAY)
    passed = make_lead(owner=ops, name="过了下次时间", registered_ago=3 * DAY)
    services.lead_follow_up(actor=ops, lead=passed, method="phone", result="considering")
    Lead.objects.filter(pk=passed.pk).update(next_follow_up_at=timezone.now() - HOUR)
    scheduled = make_lead(owner=ops, name="约了明天", registered_ago=3 * DAY)
    services.lead_follow_up(
        actor=ops,
        lead=scheduled,
        method="phone",
        result="interested",
        next_follow_up_at=timezone.now() + DAY,
    )
    closed = make_lead(owner=ops, name="已关闭", registered_ago=3 * DAY)
    services.lead_close(actor=ops, lead=closed, reason="no_need")
    response = client_for(manager).get(reverse("leads:list"), {"overdue": "1"})
    assert set(_names(response)) == {"逾期未打", "过了下次时间"}
    settings.LEAD_FIRST_CALL_HOURS = 1
    response = client_for(manager).get(reverse("leads:list"), {"overdue": "1"})
    assert set(_names(response)) == {"逾期未打", "刚报名", "过了下次时间"}
    assert "逾期" in response.content.decode()


def test_pool_page_lists_open_unassigned_leads_with_a_claim_button(client_for, ops, ops2):
    make_lead(name="公海A")
    make_lead(owner=ops2, name="别人的")
    closed = make_lead(name="公海关闭")
    services.lead_close(actor=ops, lead=closed, reason="no_need")
    Lead.objects.filter(pk=closed.pk).update(owner=None)
    response = client_for(ops).get(reverse("leads:pool"))
    assert _names(response) == ["公海A"]
    body = response.content.decode()
    pool_lead = Lead.objects.get(name="公海A")
    assert f'formaction="{reverse("leads:claim", args=[pool_lead.pk])}"' in body


def test_list_htmx_returns_only_the_table(client_for, ops):
    make_lead(owner=ops)
    response = client_for(ops).get(reverse("leads:list"), {"q": "申请"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and "<table" in body and "<html" not in body
    response = client_for(ops).get(reverse("leads:to_call"), **HX)
    assert "<table" in response.content.decode() and "<html" not in response.content.decode()


# --- 待回访 --------------------------------------------------------------------------------


def test_to_call_lists_due_leads_oldest_first_with_waiting_time(client_for, ops):
    make_lead(owner=ops, name="等了两小时", registered_ago=2 * HOUR)
    make_lead(owner=ops, name="等了三天", registered_ago=3 * DAY + 5 * HOUR)
    due = make_lead(owner=ops, name="约的时间已过", registered_ago=10 * DAY)
    services.lead_follow_up(actor=ops, lead=due, method="phone", result="considering")
    Lead.objects.filter(pk=due.pk).update(next_follow_up_at=timezone.now() - DAY)
    later = make_lead(owner=ops, name="约了明天", registered_ago=5 * DAY)
    services.lead_follow_up(
        actor=ops,
        lead=later,
        method="phone",
        result="interested",
        next_follow_up_at=timezone.now() + DAY,
    )
    done = make_lead(owner=ops, name="已回访无下次", registered_ago=5 * DAY)
    services.lead_follow_up(actor=ops, lead=done, method="phone", result="interested")
    closed = make_lead(owner=ops, name="无意向", registered_ago=9 * DAY)
    services.lead_close(actor=ops, lead=closed, reason="no_need")
    response = client_for(ops).get(reverse("leads:to_call"))
    assert _names(response) == ["等了三天", "约的时间已过", "等了两小时"]
    body = response.content.decode()
    waited = [int(s) for s in re.findall(r'data-waited-seconds="(\d+)"', body)]
    assert waited == sorted(waited, reverse=True)
    assert abs(waited[0] - (3 * 86400 + 5 * 3600)) < 120
    assert "3 天 5 小时" in body and "1 天 0 小时" in body and "2 小时 0 分钟" in body


def test_reopened_lead_is_due_again(client_for, ops):
    lead = make_lead(owner=ops, name="回头客")
    services.lead_follow_up(
        actor=ops, lead=lead, method="phone", result="not_interested", lost_reason="no_need"
    )
    assert _names(client_for(ops).get(reverse("leads:to_call"))) == []
    services.lead_reopen(actor=ops, lead=lead)
    assert _names(client_for(ops).get(reverse("leads:to_call"))) == ["回头客"]


def _queries(client, url: str, params: dict) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _populate(actor, n: int, owners: list, offset: int) -> None:
    for i in range(n):
        lead = make_lead(
            owner=owners[i % len(owners)],
            company=f"物业{offset + i}",
            channel=["web", "wechat", "qr"][i % 3],
            registered_ago=(i + 2) * DAY,
        )
        if i % 2:
            make_customer(actor=actor, name=lead.company, owner=None)


@pytest.mark.parametrize("route", ["leads:list", "leads:to_call", "leads:pool"])
def test_list_pages_run_the_same_queries_for_5_and_50_rows(client_for, manager, ops, route):
    client = client_for(manager)
    url = reverse(route)
    params = {"page_size": 100}
    _populate(manager, 5, [ops, None, manager], 0)
    few = _queries(client, url, params)
    _populate(manager, 45, [ops, None, manager], 5)
    many = _queries(client, url, params)
    rows = len(_names(client.get(url, params)))
    assert rows >= 15  # the page really holds many rows
    assert many == few, (few, many)
    assert few <= 12


# --- Detail ------------------------------------------------------------------------------


def test_detail_shows_timeline_history_and_duplicate_warning(client_for, ops, ops2):
    customer = make_customer(actor=ops, name="已有物业", contact_phone="13300133000")
    make_customer(actor=ops2, name="别人的物业")
    lead = make_lead(owner=ops, phone="13300133000", company="别人的物业", name="老周")
    services.lead_follow_up(
        actor=ops, lead=lead, method="wechat", result="considering", notes="要报价"
    )
    response = client_for(ops).get(reverse("leads:detail", args=[lead.pk]))
    body = response.content.decode()
    assert "要报价" in body and "微信" in body and "考虑中" in body
    assert "操作记录" in body
    # The history reads in labels, not codes.
    assert '<th>状态</th><td class="old">待回访</td><td>→</td><td class="new">跟进中</td>' in body
    assert f'href="{reverse("customers:detail", args=[customer.pk])}"' in body
    assert "联系电话相同" in body and "企业名称相同" in body
    assert body.count("疑似与已有客户重复") == 2


def test_other_specialists_lead_is_404_and_manager_sees_it(client_for, ops, ops2, manager):
    lead = make_lead(owner=ops2)
    assert client_for(ops).get(reverse("leads:detail", args=[lead.pk])).status_code == 404
    assert client_for(manager).get(reverse("leads:detail", args=[lead.pk])).status_code == 200
    assert client_for(ops).get(reverse("leads:detail", args=[999999])).status_code == 404


# --- Offline entry, claim, assign --------------------------------------------------------


def test_offline_entry_page(client_for, ops):
    client = client_for(ops)
    assert "线下录入" in client.get(reverse("leads:create")).content.decode()
    response = client.post(
        reverse("leads:create"), {"name": "冯总", "phone": "13100131000", "company": "冯氏物业"}
    )
    lead = Lead.objects.get(name="冯总")
    assert response.status_code == 302 and response["Location"] == reverse(
        "leads:detail", args=[lead.pk]
    )
    assert lead.channel == "offline" and lead.owner == ops
    response = client.post(reverse("leads:create"), {"name": "又一个", "phone": "13100131000"})
    body = response.content.decode()
    assert response.status_code == 200 and "该手机号已有客户申请" in body
    assert f'href="{reverse("leads:detail", args=[lead.pk])}"' in body
    response = client.post(reverse("leads:create"), {"name": "x", "phone": "123"})
    assert "请输入 11 位中国大陆手机号" in response.content.decode()


def test_edit_page(client_for, ops):
    lead = make_lead(owner=ops, company="旧")
    url = reverse("leads:edit", args=[lead.pk])
    assert lead.display_phone in client_for(ops).get(url).content.decode()
    data = {"name": lead.name, "phone": lead.display_phone, "company": "新", "notes": ""}
    assert client_for(ops).post(url, data).status_code == 302
    lead.refresh_from_db()
    assert lead.company == "新"


def test_claim_from_the_pool_and_conflict_message(client_for, ops, ops2):
    lead = make_lead()
    back = reverse("leads:pool")
    response = client_for(ops).post(reverse("leads:claim", args=[lead.pk]), {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    lead.refresh_from_db()
    assert lead.owner == ops
    # ops2 no longer sees it: outside their scope now.
    assert client_for(ops2).post(reverse("leads:claim", args=[lead.pk])).status_code == 404
    response = client_for(ops).post(reverse("leads:claim", args=[lead.pk]), follow=True)
    assert "你已领取该客户申请" in response.content.decode()


def test_bulk_assign_by_manager_and_refused_to_ops(client_for, manager, ops):
    leads = [make_lead() for _ in range(3)]
    response = client_for(manager).post(
        reverse("leads:assign"), {"ids": [x.pk for x in leads], "owner": ops.pk}
    )
    assert response.status_code == 302
    assert Lead.objects.filter(owner=ops).count() == 3
    assert AuditLog.objects.filter(action="assign").count() == 3
    response = client_for(manager).post(
        reverse("leads:assign"), {"ids": [leads[0].pk], "owner": ""}
    )
    assert Lead.objects.get(pk=leads[0].pk).owner is None
    response = client_for(ops).post(reverse("leads:assign"), {"ids": [leads[1].pk], "owner": ""})
    assert response.status_code == 403


# --- Modals ------------------------------------------------------------------------------


def test_follow_up_modal_fragment_errors_and_hx_redirect(client_for, ops):
    lead = make_lead(owner=ops)
    url = reverse("leads:follow_up", args=[lead.pk])
    client = client_for(ops)
    response = client.get(url, {"next": reverse("leads:to_call")}, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and 'class="modal"' in body and "<html" not in body
    for name in ("method", "result", "notes", "next_follow_up_at", "lost_reason", "lost_note"):
        assert f'name="{name}"' in body
    assert f'name="next" value="{reverse("leads:to_call")}"' in body
    response = client.post(url, {"method": "phone", "result": "not_interested"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and "HX-Redirect" not in response
    assert "无意向原因：" in body
    past = (timezone.localtime() - HOUR).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        url, {"method": "phone", "result": "considering", "next_follow_up_at": past}, **HX
    )
    assert "应晚于现在" in response.content.decode()
    later = (timezone.localtime() + 2 * DAY).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        url,
        {
            "method": "visit",
            "result": "interested",
            "notes": "上门演示",
            "next_follow_up_at": later,
            "next": reverse("leads:to_call"),
        },
        **HX,
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("leads:to_call")
    lead.refresh_from_db()
    assert lead.status == Lead.Status.INTERESTED and lead.follow_up_count == 1
    assert timezone.localtime(lead.next_follow_up_at).strftime("%Y-%m-%dT%H:%M") == later
    follow_up = FollowUp.objects.get()
    assert follow_up.method == "visit" and follow_up.notes == "上门演示"


def test_follow_up_modal_refuses_an_external_next_and_closed_leads(client_for, ops):
    lead = make_lead(owner=ops)
    url = reverse("leads:follow_up", args=[lead.pk])
    response = client_for(ops).post(
        url, {"method": "phone", "result": "no_answer", "next": "//evil.example.com/"}, **HX
    )
    assert response["HX-Redirect"] == reverse("leads:detail", args=[lead.pk])
    services.lead_close(actor=ops, lead=lead, reason="no_need")
    response = client_for(ops).post(url, {"method": "phone", "result": "interested"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and "请先重新打开" in body


def test_close_modal_needs_a_reason_then_reopen(client_for, ops):
    lead = make_lead(owner=ops)
    url = reverse("leads:close", args=[lead.pk])
    client = client_for(ops)
    body = client.get(url, **HX).content.decode()
    assert 'class="modal"' in body and 'name="reason"' in body and "价格太高" in body
    assert "请选择无意向原因" in client.post(url, {"reason": ""}, **HX).content.decode()
    body = client.post(url, {"reason": "other", "note": ""}, **HX).content.decode()
    assert "原因为“其他”时请说明" in body
    response = client.post(url, {"reason": "has_system"}, **HX)
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("leads:detail", args=[lead.pk])
    lead.refresh_from_db()
    assert lead.status == Lead.Status.NOT_INTERESTED
    detail = client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert "已有系统" in detail and "btn-reopen" in detail and "btn-follow-up" not in detail
    response = client.post(reverse("leads:reopen", args=[lead.pk]))
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.status == Lead.Status.NEW
    response = client.post(reverse("leads:reopen", args=[lead.pk]), follow=True)
    assert "只有已关闭" in response.content.decode()


# --- Conversion --------------------------------------------------------------------------


def test_convert_prefills_the_customer_form_and_creates_the_customer(client_for, ops):
    lead = make_lead(owner=ops, name="褚经理", phone="13200132000", company="褚氏物业")
    url = reverse("leads:convert", args=[lead.pk])
    body = client_for(ops).get(url).content.decode()
    assert 'value="褚经理"' in body and 'value="13200132000"' in body
    assert 'value="褚氏物业"' in body and 'name="license_no"' in body
    response = client_for(ops).post(
        url,
        {
            "name": "褚氏物业管理有限公司",
            "contact_name": "褚经理",
            "contact_phone": "13200132000",
            "email": "bad",
        },
    )
    assert response.status_code == 200 and "邮箱：" in response.content.decode()
    assert not Customer.objects.exists()
    response = client_for(ops).post(
        url,
        {"name": "褚氏物业管理有限公司", "contact_name": "褚经理", "contact_phone": "13200132000"},
    )
    customer = Customer.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:detail", args=[customer.pk])
    lead.refresh_from_db()
    assert lead.customer == customer and lead.status == Lead.Status.CONVERTED
    assert customer.name == "褚氏物业管理有限公司" and customer.owner == ops
    again = client_for(ops).get(url)
    assert again.status_code == 302 and again["Location"] == reverse("leads:detail", args=[lead.pk])
    detail = client_for(ops).get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert customer.enterprise_no in detail and "btn-convert" not in detail
    assert "疑似与已有客户重复" not in detail  # its own customer is not a duplicate


def test_manager_converts_for_the_leads_owner_by_default(client_for, manager, ops):
    lead = make_lead(owner=ops, company="主管转化")
    body = client_for(manager).get(reverse("leads:convert", args=[lead.pk])).content.decode()
    assert f'<option value="{ops.pk}" selected>' in body


# --- QR channels -------------------------------------------------------------------------


def _decode_png(content: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(content)))]


def _decode_svg(content: bytes) -> list[str]:
    """Rasterise the SVG's path (one ``Mx,y Hx2 Vy2 H… z`` square per dark module) onto
    a white image and decode it."""
    text = content.decode()
    size = float(re.search(r'viewBox="0 0 ([\d.]+) [\d.]+"', text).group(1))
    scale = 10  # pixels per SVG unit
    image = Image.new("L", (round(size * scale), round(size * scale)), 255)
    draw = ImageDraw.Draw(image)
    path = re.search(r'<path d="([^"]+)"', text).group(1)
    squares = re.findall(r"M([\d.]+),([\d.]+)H([\d.]+)V([\d.]+)H[\d.]+z", path)
    assert squares
    for x0, y0, x1, y1 in squares:
        box = [round(float(v) * scale) for v in (x0, y0, x1, y1)]
        draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=0)
    return [r.text for r in zxingcpp.read_barcodes(image)]


def test_qr_png_and_svg_encode_the_public_apply_url(client_for, manager, settings):
    settings.PUBLIC_BASE_URL = "https://join.example.com"
    channel = services.qr_channel_create(actor=manager, name="物业展会", campaign="2026")
    expected = f"https://join.example.com/apply/?ch=qr&ref={channel.code}"
    client = client_for(manager)
    png = client.get(reverse("leads:qr_png", args=[channel.pk]))
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert _decode_png(png.content) == [expected]
    svg = client.get(reverse("leads:qr_svg", args=[channel.pk]), {"download": "1"})
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert "attachment" in svg["Content-Disposition"] and ".svg" in svg["Content-Disposition"]
    assert svg.content.lstrip().startswith(b"<?xml") and b"<svg" in svg.content
    assert _decode_svg(svg.content) == [expected]


def test_qr_list_counts_registrations_and_conversions_in_one_query(client_for, manager, ops):
    from apps.leads.selectors import qr_channel_list

    channels = [services.qr_channel_create(actor=manager, name=f"海报{i}") for i in range(3)]
    for i, channel in enumerate(channels):
        for _ in range(i + 1):
            services.lead_register(
                name="扫码",
                phone=f"137{Lead.objects.count():08d}",
                channel="qr",
                channel_ref=channel.code,
            )
    converted = Lead.objects.filter(qr_channel=channels[2]).first()
    services.lead_convert(actor=manager, lead=converted, data={})
    with CaptureQueriesContext(connection) as ctx:
        rows = list(qr_channel_list(user=manager))
    assert len(ctx.captured_queries) <= 3  # the permission look-ups, then one query
    counts = {c.name: (c.registrations, c.conversions) for c in rows}
    assert counts == {"海报0": (1, 0), "海报1": (2, 0), "海报2": (3, 1)}
    body = client_for(manager).get(reverse("leads:qr_list")).content.decode()
    assert channels[2].code in body and "33%" in body
    assert f"/apply/?ch=qr&amp;ref={channels[0].code}" in body
    listed = client_for(manager).get(reverse("leads:list"), {"qr": channels[1].pk})
    assert len(_names(listed)) == 2


def test_qr_channel_create_and_edit_pages(client_for, manager, ops):
    client = client_for(manager)
    response = client.post(
        reverse("leads:qr_create"), {"name": "社区海报", "campaign": "春季", "owner": ops.pk}
    )
    assert response.status_code == 302
    channel = services.QrChannel.objects.get(name="社区海报")
    assert channel.owner == ops and channel.created_by == manager
    url = reverse("leads:qr_edit", args=[channel.pk])
    assert channel.code in client.get(url).content.decode()
    response = client.post(url, {"name": "社区海报二期", "campaign": "", "owner": ""})
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "社区海报二期" and channel.owner is None and not channel.is_active
    body = client.post(reverse("leads:qr_create"), {"name": ""}).content.decode()
    assert "名称：" in body


# --- Menu and dashboard ------------------------------------------------------------------


def test_menu_and_dashboard_figures(client_for, ops, ops2, manager, devops):
    make_lead(name="逾期", registered_ago=2 * DAY)
    make_lead(owner=ops, name="新的", registered_ago=HOUR)
    make_lead(owner=ops2, name="别人的逾期", registered_ago=2 * DAY)
    body = client_for(ops).get(reverse("console:dashboard")).content.decode()
    assert re.search(r'id="stat-to-call"><b>2</b>', body)
    assert re.search(r'id="stat-overdue"><b>1</b>', body)
    assert re.search(r'id="stat-pool"><b>1</b>', body)
    assert "客户申请" in body and "待回访" in body and "二维码渠道" not in body
    body = client_for(manager).get(reverse("console:dashboard")).content.decode()
    assert re.search(r'id="stat-overdue"><b>2</b>', body) and "二维码渠道" in body
    body = client_for(devops).get(reverse("console:dashboard")).content.decode()
    assert "stat-overdue" not in body and "客户申请" not in body


def test_audit_list_links_lead_rows(client_for, admin_user, ops):
    lead = make_lead(owner=ops)
    other = make_staff("auditor_ops", "ops")
    services.lead_assign(actor=admin_user, leads=[lead], owner=other)
    body = client_for(admin_user).get(reverse("audit:list"), {"object_type": "lead"}).content
    assert reverse("leads:detail", args=[lead.pk]) in body.decode()


def test_export_uses_the_same_scope_and_filters(client_for, ops, ops2):
    import io

    from openpyxl import load_workbook

    from apps.leads.services import lead_create_offline

    assert client_for(ops).get("/leads/export/").status_code == 403  # a manager's permission
    grant(ops, "leads.export_lead")  # given to a specialist here, to test the scope
    lead_create_offline(actor=ops, name="我的申请", phone="13800000011", company="甲物业")
    lead_create_offline(actor=ops2, name="别人的申请", phone="13800000012", company="乙物业")
    response = client_for(ops).get("/leads/export/", {"channel": "offline"})
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    rows = list(load_workbook(io.BytesIO(response.getvalue())).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("姓名", "电话", "公司名")
    assert [(r[0], r[1], r[5]) for r in rows[1:]] == [("我的申请", "13800000011", "线下")]


def test_the_pool_and_to_call_pages_export_their_own_rows(client_for, manager, ops):
    import io

    from openpyxl import load_workbook

    from apps.leads.models import Lead
    from apps.leads.services import lead_create_offline

    pool = lead_create_offline(actor=manager, name="公海的", phone="13800000021")
    mine = lead_create_offline(actor=manager, name="小王的", phone="13800000022")
    Lead.objects.filter(pk=pool.pk).update(owner=None)
    Lead.objects.filter(pk=mine.pk).update(owner=ops)
    client = client_for(manager)

    def names(query: str) -> set[str]:
        response = client.get(f"/leads/export/?{query}")
        sheet = load_workbook(io.BytesIO(response.getvalue())).active
        return {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}

    assert names("") == {"公海的", "小王的"}
    assert names("mode=pool") == {"公海的"}
    assert names("mode=to_call") == {"公海的", "小王的"}
    page = client.get("/leads/pool/").content.decode()
    assert "/leads/export/?mode=pool&amp;" in page
