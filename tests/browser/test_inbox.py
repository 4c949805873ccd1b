"""待办 in real Chromium: a specialist sees the count in the menu, opens 待办 and records a
call-back with one click; the item leaves the list and the count goes down."""

from __future__ import annotations

import pytest

from apps.accounts.tests.factories import make_staff
from apps.leads.models import Lead
from apps.leads.services import lead_assign, lead_register
from tests.browser.conftest import CHROMIUM, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_call_back_from_the_inbox(page, tmp_path):
    assert CHROMIUM
    ops = make_staff("ops_inbox", "ops", name="运营小王")
    manager = make_staff("mgr_inbox", "ops_manager", name="主管老张")
    for n, company in ((1, "阳光物业"), (2, "翠湖物业")):
        lead = lead_register(name=f"申请人{n}", phone=f"1380013800{n}", company=company).lead
        lead_assign(actor=manager, leads=[lead], owner=ops)

    login(page, "ops_inbox")
    page.goto(page.base_url + "/")
    page.wait_for_selector("#badge-inbox:has-text('2')")
    page.click("a:has-text('待办')")
    section = page.locator("#inbox-new_leads")
    assert section.get_attribute("data-count") == "2"
    assert "阳光物业" in section.inner_text() and "翠湖物业" in section.inner_text()
    page.screenshot(path=str(tmp_path / "inbox.png"))

    section.locator("li", has_text="阳光物业").locator("button", has_text="记录回访").click()
    modal = page.locator(".modal")
    modal.wait_for()
    modal.get_by_label("电话", exact=True).check()
    modal.locator("#id_result").select_option("interested")
    modal.locator("#id_notes").fill("下周去现场")
    modal.locator("button[type=submit]").click()
    page.wait_for_selector(".msg-success:has-text('已记录回访')")
    assert page.url.endswith("/inbox/")  # back where the click came from
    assert page.locator("#inbox-new_leads").get_attribute("data-count") == "1"
    assert "阳光物业" not in page.locator("#inbox-new_leads").inner_text()
    page.wait_for_selector("#badge-inbox:has-text('1')")
    assert Lead.objects.get(company="阳光物业").status == Lead.Status.INTERESTED
