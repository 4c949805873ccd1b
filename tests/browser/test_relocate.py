"""迁移数据源 in real Chromium with a real worker, against the real MariaDB (another
database and account on it stand in for the customer's own server): devops starts the
move from the customer page, watches its steps and the rows copied, sees the new
generation in place and the old one kept, then removes the old database."""

from __future__ import annotations

import pytest

from apps.accounts.tests.factories import make_staff
from apps.customers.tests.factories import make_customer
from apps.datasources.models import DataSource, RetiredDataSource
from apps.datasources.services import datasource_configure
from apps.datasources.tests.test_clearing import tenant_sql
from tests.browser.conftest import CHROMIUM, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def online(mysql_account, mysql_admin, tenant_settings):
    ops = make_staff("ops_move", "ops", name="运营小王")
    devops = make_staff("devops_move", "devops", name="运维小赵")
    customer = make_customer(actor=ops, complete=True, name="杭州绿城物业服务有限公司")
    ds = datasource_configure(actor=devops, customer=customer, data=mysql_account.data())
    tenant_sql(
        ds,
        "INSERT INTO communities (name, online) "
        "SELECT CONCAT('小区', seq), seq % 2 FROM seq_1_to_3000",
    )
    DataSource.objects.filter(pk=ds.pk).update(impl_status=DataSource.ImplStatus.ONLINE)
    ds.refresh_from_db()
    yield ds
    mysql_admin.drop_run_databases()


def test_devops_relocates_a_tenant_and_watches_it_finish(
    page, online, mysql_second_account, worker, tmp_path
):
    assert CHROMIUM
    ds = online
    target = mysql_second_account
    login(page, "devops_move")
    page.goto(f"{page.base_url}/customers/{ds.customer_id}/")
    page.click("#btn-ds-relocate")
    page.locator("#ds-relocate").wait_for()
    assert f"DS-{ds.customer.enterprise_no}-2" in page.inner_text("#ds-relocate")
    page.fill("#id_host", target.host)
    page.fill("#id_port", str(target.port))
    page.fill("#id_username", target.username)
    page.fill("#id_password", target.password)
    page.fill("#id_max_connections", "5")
    page.fill("#id_min_connections", "1")
    page.click("#btn-ds-relocate-check")
    page.wait_for_selector("#ds-check-report:has-text('检测通过')")
    page.screenshot(path=str(tmp_path / "relocate-form.png"))
    page.click("#btn-ds-relocate-start")
    page.wait_for_selector(".msg-success:has-text('已开始迁移到')")

    # The panel follows the move to its end, then shows the new generation.
    page.wait_for_selector("#ds-relocations [data-status='succeeded']", timeout=90_000)
    new = DataSource.objects.get(customer=ds.customer)
    assert new.generation == 2 and new.username == target.username
    panel = page.locator("#datasource-panel")
    assert new.name in panel.locator("#ds-fields").inner_text()
    assert "3000 行" in page.inner_text("#ds-relocations")
    retired = page.locator("#ds-retired")
    assert ds.name in retired.inner_text() and "保留中" in retired.inner_text()
    assert target.password not in page.content()
    panel.screenshot(path=str(tmp_path / "relocated.png"))

    old = RetiredDataSource.objects.get()
    page.click(f"#btn-ds-retired-remove-{old.pk}")
    page.fill("#id_confirm_name", old.name)
    page.click("#btn-ds-retired-remove-confirm")
    page.wait_for_selector(f".msg-success:has-text('已删除旧库 {old.database}')")
    assert "已删除" in page.inner_text("#ds-retired")
