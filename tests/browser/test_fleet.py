"""租户库升级 in real Chromium with a real worker: devops looks at the plan, starts the
rollout from the console and watches it finish on the page."""

from __future__ import annotations

import pytest

from apps.accounts.tests.factories import make_staff
from apps.customers.tests.factories import make_customer
from apps.datasources.models import Rollout
from apps.datasources.services import datasource_configure
from apps.datasources.tests.factories import BASE_MIGRATIONS, write_migrations
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tenants(tmp_path, settings, tenant_settings, mysql_account, pg_account, mysql_admin, pg_admin):
    root = tmp_path / "migrations"
    write_migrations(root, BASE_MIGRATIONS)
    settings.TENANT_BASELINE_DIR = str(root)
    ops = make_staff("ops_fleet", "ops")
    devops = make_staff("devops_fleet", "devops", name="运维小周")
    made = []
    for account in (mysql_account, mysql_account, pg_account, pg_account):
        customer = make_customer(actor=ops, complete=True)
        made.append(datasource_configure(actor=devops, customer=customer, data=account.data()))
    for db_type in ("mysql", "postgresql"):
        (root / db_type / "0003_buildings.sql").write_text(
            "CREATE TABLE buildings (id int);\n"
            "ALTER TABLE communities ADD COLUMN note varchar(20);\n"
        )
    yield made, root
    mysql_admin.drop_run_databases()
    pg_admin.drop_run_databases()


def test_devops_plans_and_runs_a_rollout_and_watches_it_finish(
    page, tenants, idle_worker, tmp_path
):
    _made, root = tenants
    idle_worker.env["TENANT_BASELINE_DIR"] = str(root)
    idle_worker.start()
    login(page, "devops_fleet")
    page.click("nav >> text=租户库升级")
    page.wait_for_selector("#fleet-options")
    assert page.input_value("#fleet-target") == "0003"
    page.fill("#fleet-canary", "1")
    page.fill("#fleet-wave", "2")
    page.click("#btn-fleet-plan")
    summary = page.locator("#fleet-plan-summary")
    summary.wait_for()
    assert "4 个租户，2 台服务器，金丝雀 1 个，共 2 批" in summary.inner_text()
    assert page.locator("[data-cap]").count() == 2
    page.screenshot(path=str(tmp_path / "plan.png"))
    page.click("#btn-fleet-start")
    page.wait_for_selector(".msg-success:has-text('已发起租户库升级')")
    page.wait_for_selector("#fleet-progress[data-rollout-status='finished']", timeout=60_000)
    counts = page.inner_text("#fleet-counts")
    assert "已完成 4 / 4（100%）" in counts and "成功 4" in counts and "失败 0" in counts
    # The page reloads itself once the rollout has ended: the list shows every result.
    page.wait_for_function(
        "document.querySelectorAll(\"#fleet-tenants [data-tenant-status='succeeded']\")"
        ".length === 4"
    )
    assert page.locator("#btn-fleet-pause").count() == 0
    page.screenshot(path=str(tmp_path / "finished.png"))
    assert Rollout.objects.get().message == "成功 4，失败 0，跳过 0"
