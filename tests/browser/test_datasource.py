"""The 数据源 panel in real Chromium against the real MariaDB, with a real worker doing the
provisioning: ops cannot open a customer without a data source and see its status only;
devops configures one from the customer page with a least-privilege account — 保存 queues
it, the steps show live and survive a reload — moves 实施状态 forward and cannot edit
anything."""

from __future__ import annotations

import pytest

from apps.accounts.tests.factories import make_staff
from apps.customers.models import Customer
from apps.customers.tests.factories import make_customer
from apps.datasources.models import DataSource
from tests.browser.conftest import CHROMIUM, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tenant_mysql(mysql_account, mysql_admin, tenant_settings):
    yield mysql_account, mysql_admin
    mysql_admin.drop_run_databases()


@pytest.fixture
def second_page(browser, live_server):
    """Another signed-in person at the same time (own cookies)."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.base_url = live_server.url
    yield page
    context.close()


def panel(page):
    return page.locator("#datasource-panel")


def test_configure_advance_and_activate(page, second_page, tenant_mysql, idle_worker, tmp_path):
    assert CHROMIUM
    account, admin = tenant_mysql
    ops = make_staff("ops_ds", "ops", name="运营小王")
    make_staff("devops_ds", "devops", name="运维小赵")
    customer = make_customer(actor=ops, complete=True, name="杭州绿城物业服务有限公司")
    detail = f"/customers/{customer.pk}/"

    # 运营: no data source yet, so 开通 is blocked and says who fixes it.
    ops_page = page
    login(ops_page, "ops_ds")
    ops_page.goto(ops_page.base_url + detail)
    assert panel(ops_page).locator("#ds-none").inner_text() == "暂未配置数据源"
    assert panel(ops_page).locator("button").count() == 0
    ops_page.click("#btn-activate")
    modal = ops_page.locator(".modal")
    modal.wait_for()
    assert "尚未配置数据源（开发运维配置数据源）" in modal.inner_text()
    assert modal.locator("input[name=modules]").count() == 0
    modal.locator("[data-close-modal]").click()

    # 开发运维 configures it from the customer page.
    dev = second_page
    login(dev, "devops_ds")
    dev.goto(dev.base_url + detail)
    dev.click("#btn-ds-configure")
    form = dev.locator("#ds-configure")
    form.wait_for()
    name = f"DS-{customer.enterprise_no}-1"
    assert name in form.locator("#ds-preview").inner_text()
    dev.fill("#id_host", account.host)
    dev.fill("#id_port", str(account.port))
    dev.select_option("#id_db_type", "mysql")
    dev.fill("#id_username", account.username)
    dev.fill("#id_password", account.password)
    dev.fill("#id_max_connections", "10")
    dev.fill("#id_min_connections", "2")
    dev.fill("#id_remarks", "浏览器测试")
    dev.click("#btn-ds-check")
    report = dev.locator("#ds-check-report")
    report.wait_for()
    assert "检测通过" in report.inner_text()
    assert report.locator(".finding-ok").count() >= 4
    assert report.locator(".finding-error").count() == 0
    dev.screenshot(path=str(tmp_path / "configure.png"))
    dev.click("#btn-ds-save")
    # No worker yet: the run waits in the queue, and says so.
    dev.wait_for_selector("#ds-configure[data-run-status='queued']")
    assert "排队中" in dev.inner_text("#ds-run-state")
    assert dev.locator("#ds-run-steps [data-status='pending']").count() == 5

    # A reload midway: the panel shows the run under way instead of 配置数据源 …
    dev.reload()
    live = panel(dev).locator("#ds-run-live")
    live.wait_for()
    assert name in live.inner_text() and panel(dev).locator("#btn-ds-configure").count() == 0
    # … and follows it to the end once a worker takes it; the panel then reloads itself.
    idle_worker.start()
    panel(dev).locator("#ds-fields").wait_for(timeout=60_000)
    assert dev.locator("#ds-run-live").count() == 0

    ds = DataSource.objects.get(customer=customer)
    assert ds.name == name and admin.database_exists(ds.database)
    assert admin.tables(ds.database) == ["communities", "schema_version"]
    text = panel(dev).inner_text()
    for shown in (name, ds.database, account.username, f"{account.host}:{account.port}", "******"):
        assert shown in text
    assert account.password not in dev.content()
    # Read-only forever: no input in the panel, no edit action anywhere.
    assert panel(dev).locator("input, select, textarea").count() == 0
    assert dev.locator("text=编辑数据源").count() == 0
    assert panel(dev).locator("#ds-runs").inner_text().count("成功") == 1

    # 实施状态 forward, with a confirmation.
    dev.click("#btn-ds-advance")
    dev.locator(".modal").wait_for()
    dev.click("#btn-ds-advance-confirm")
    dev.wait_for_selector(".msg-success:has-text('实施状态已更新为「实施中」')")
    assert panel(dev).locator("[data-impl-status='1']").inner_text() == "实施中"
    assert panel(dev).locator("#btn-ds-delete").count() == 0
    assert "推进到下一状态（已上线）" in panel(dev).inner_text()
    ds.refresh_from_db()
    assert ds.impl_status == DataSource.ImplStatus.IN_PROGRESS
    dev.click("#btn-ds-probe")
    dev.wait_for_selector("#ds-probe-result:has-text('所有表均无数据')")
    panel(dev).screenshot(path=str(tmp_path / "devops-panel.png"))

    # The API has no way to edit either.
    csrf = next(c["value"] for c in dev.context.cookies() if c["name"] == "csrftoken")
    for method in ("PATCH", "PUT"):
        response = dev.request.fetch(
            f"{dev.base_url}/api/v1/customers/{customer.pk}/datasource",
            method=method,
            headers={"X-CSRFToken": csrf, "Content-Type": "application/json"},
            data='{"host": "127.0.0.2"}',
        )
        assert response.status == 405
    assert DataSource.objects.get(pk=ds.pk).host == account.host

    # 运营 now see the status only, and can open the customer.
    ops_page.reload()
    text = panel(ops_page).inner_text()
    assert "MySQL（含 MariaDB）" in text and "实施中" in text and "运维小赵" in text
    for hidden in (name, ds.database, account.username, account.host):
        assert hidden not in text
    assert panel(ops_page).locator("button").count() == 0
    assert "尚未配置数据源" not in ops_page.content()
    ops_page.screenshot(path=str(tmp_path / "ops.png"))
    ops_page.click("#btn-activate")
    ops_page.locator(".modal input[name=modules]").first.wait_for()
    ops_page.locator(".modal button[type=submit]").click()
    ops_page.wait_for_selector(".msg-success:has-text('客户已开通')")
    customer.refresh_from_db()
    assert customer.status == Customer.Status.OPEN


def test_failed_configure_shows_the_step_and_keeps_the_fields(page, tenant_mysql, worker):
    account, admin = tenant_mysql
    ops = make_staff("ops_ds2", "ops")
    make_staff("devops_ds2", "devops", name="运维小钱")
    customer = make_customer(actor=ops, complete=True)
    login(page, "devops_ds2")
    page.goto(f"{page.base_url}/customers/{customer.pk}/")
    page.click("#btn-ds-configure")
    page.locator("#ds-configure").wait_for()
    page.fill("#id_host", account.host)
    page.fill("#id_port", str(account.port))
    page.fill("#id_username", account.username)
    page.fill("#id_password", "Wrong#Pass2026")
    page.fill("#id_max_connections", "10")
    page.fill("#id_min_connections", "2")
    page.fill("#id_remarks", "保留的备注")
    page.click("#btn-ds-save")
    page.wait_for_selector("#ds-configure[data-run-status='failed']", timeout=60_000)
    assert "第 1 步「检测连接」失败" in page.inner_text("#ds-run-state")
    assert page.locator("#ds-run-steps [data-step='check'][data-status='failed']").count() == 1
    assert "Wrong#Pass2026" not in page.content()
    # The runs table behind the modal has reloaded with the failure and its actions.
    runs = panel(page).locator("#ds-runs")
    runs.wait_for()
    assert "失败" in runs.inner_text()
    # 修改后重新配置: the form again, filled from the failed run, never its password.
    assert page.locator("#ds-run-steps [data-status='not_run']").count() == 4
    page.click("#btn-ds-refill")
    page.locator("#ds-configure form").wait_for()
    assert page.input_value("#id_host") == account.host
    assert page.input_value("#id_remarks") == "保留的备注"
    assert page.input_value("#id_username") == account.username
    assert page.input_value("#id_password") == ""
    assert not DataSource.objects.exists() and admin.databases() == []


def test_check_connection_runs_again_and_again_in_the_modal(page):
    """检测连接 twice in the same modal: each result replaces the last, inside its own box
    (the form swaps itself whole; the check must not take that swap and lose its target).
    The server is a closed local port, so each check fails fast with its reason."""
    make_staff("devops_chk", "devops", name="运维小钱")
    owner = make_staff("ops_chk", "ops", name="运营小孙")
    customer = make_customer(actor=owner, complete=True, name="成都检测物业有限公司")
    login(page, "devops_chk")
    page.goto(f"{page.base_url}/customers/{customer.pk}/")
    page.click("#btn-ds-configure")
    page.locator("#ds-configure").wait_for()
    page.fill("#id_host", "127.0.0.1")
    page.fill("#id_port", "1")
    page.fill("#id_username", "tenant_app")
    page.fill("#id_password", "Str0ng!Passw0rd")
    page.fill("#id_max_connections", "10")
    page.fill("#id_min_connections", "1")
    for attempt in range(3):
        page.fill("#id_port", str(1 + attempt))
        page.click("#btn-ds-check")
        report = page.locator("#ds-check-result #ds-check-report")
        report.wait_for()
        page.wait_for_function(
            "n => document.querySelector('#ds-check-report').innerText.includes(':' + n)",
            arg=str(1 + attempt),
        )
        assert page.locator("#ds-check-result").count() == 1
