"""清空数据表 in real Chromium against the real MariaDB, with a real worker: devops picks two
tables of a tenant in 实施中, is told what a table left out still references, types the
data source's name, watches the clearing finish, then restores the rows."""

from __future__ import annotations

import pytest

from apps.accounts.tests.factories import make_staff
from apps.customers.tests.factories import make_customer
from apps.datasources.models import DataSource, TableClearing
from apps.datasources.services import datasource_configure
from apps.datasources.tests.test_clearing import SCHEMA, snapshot, tenant_sql
from tests.browser.conftest import CHROMIUM, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tenant_ds(mysql_account, mysql_admin, tenant_settings):
    ops = make_staff("ops_clear", "ops", name="运营小王")
    devops = make_staff("devops_clear", "devops", name="运维小赵")
    customer = make_customer(actor=ops, complete=True, name="杭州绿城物业服务有限公司")
    ds = datasource_configure(actor=devops, customer=customer, data=mysql_account.data())
    tenant_sql(ds, *SCHEMA)
    DataSource.objects.filter(pk=ds.pk).update(impl_status=DataSource.ImplStatus.IN_PROGRESS)
    ds.refresh_from_db()
    yield ds
    mysql_admin.drop_run_databases()


def test_devops_clears_two_tables_and_restores_them(page, tenant_ds, worker, tmp_path):
    assert CHROMIUM
    ds = tenant_ds
    before = snapshot(ds)
    login(page, "devops_clear")
    page.goto(f"{page.base_url}/customers/{ds.customer_id}/")
    page.click("#btn-ds-clear")
    tables = page.locator("#ds-clear-tables")
    tables.wait_for()
    text = tables.inner_text()
    assert "schema_version" not in text
    row = tables.locator("tr", has=page.locator("label", has_text="bills"))
    assert "6" in row.inner_text() and "引用 houses" in row.inner_text()

    # owners alone: houses still references it.
    page.check("input[value=owners]")
    page.fill("#id_confirm_name", ds.name)
    page.click("#btn-ds-clear-confirm")
    page.wait_for_selector(".errorlist:has-text('表 houses 引用了 owners，请一并选择 houses')")
    # bills and notes, but the name mistyped first.
    page.uncheck("input[value=owners]")
    page.check("input[value=bills]")
    page.check("input[value=notes]")
    page.fill("#id_confirm_name", "bills")
    page.click("#btn-ds-clear-confirm")
    page.wait_for_selector(f".errorlist:has-text('请输入数据源名称 {ds.name} 以确认清空')")
    page.fill("#id_confirm_name", ds.name)
    page.screenshot(path=str(tmp_path / "clear-modal.png"))
    page.click("#btn-ds-clear-confirm")
    page.wait_for_selector(".msg-success:has-text('已提交清空 2 张数据表')")

    # The worker clears them; the records follow it without a reload.
    page.wait_for_selector("#ds-clearings [data-status='cleared']", timeout=60_000)
    clearing = TableClearing.objects.get()
    assert "bills（6 行）" in page.inner_text("#ds-clearings")
    after = snapshot(ds)
    assert after["bills"] == [] and after["notes"] == []
    assert after["houses"] == before["houses"] and after["owners"] == before["owners"]
    page.wait_for_selector("#ds-history:has-text('已清空租户库')")

    page.click(f"#btn-ds-restore-{clearing.pk}")
    page.locator("#btn-ds-restore-confirm").click()
    page.wait_for_selector("#ds-clearings [data-status='restored']", timeout=60_000)
    assert snapshot(ds) == before
    page.locator("#datasource-panel").screenshot(path=str(tmp_path / "restored.png"))
