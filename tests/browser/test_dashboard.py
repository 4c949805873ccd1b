"""The 工作台 charts in real Chromium: ECharts from the project's static files (no request
leaves the server), no console errors, and a click on a chart opens the list behind it."""

from __future__ import annotations

import pytest

from apps.accounts.tests.factories import make_staff
from apps.customers.models import Customer
from apps.customers.tests.factories import make_customer
from apps.leads.services import lead_register
from tests.browser.conftest import CHROMIUM, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_charts_render_locally_and_open_their_lists(page, tmp_path):
    assert CHROMIUM
    make_staff("mgr_dash", "ops_manager", name="主管老张")
    ops = make_staff("ops_dash", "ops", name="运营小王")
    trial = make_customer(actor=ops, complete=True, name="试用物业")
    Customer.objects.filter(pk=trial.pk).update(status=Customer.Status.OPEN, service_state="trial")
    lead_register(name="张三", phone="13800138000", company="阳光物业")

    errors: list[str] = []
    foreign: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request",
        lambda r: foreign.append(r.url) if not r.url.startswith(page.base_url) else None,
    )
    login(page, "mgr_dash")
    page.goto(page.base_url + "/")
    page.wait_for_selector("body[data-charts='8']")
    assert page.locator("#chart-funnel canvas").count() == 1
    assert errors == [] and foreign == []
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    # The service-state ring holds one customer, 试用中: a click on it opens the list.
    page.locator("#chart-service").scroll_into_view_if_needed()
    box = page.locator("#chart-service").bounding_box()
    radius = min(box["width"], box["height"]) / 2 * 0.5
    page.mouse.click(box["x"] + box["width"] / 2 + radius, box["y"] + box["height"] / 2)
    page.wait_for_url("**/customers/?service=trial")
    assert "试用物业" in page.inner_text("main")
