"""The 数据源 panel on the customer page and its modals, against the real tenant servers:
运营 see the status only, 开发运维 see the configuration (never the password) and act."""

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.audit.models import AuditLog
from apps.customers.tests.factories import make_customer
from apps.datasources.models import DataSource, DataSourceTombstone, ProvisioningRun
from apps.datasources.provisioning import run_queued
from apps.datasources.services import datasource_configure
from apps.datasources.tests.factories import make_datasource

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
WRONG = "Wrong#Pass2026"


def detail(client, customer) -> str:
    response = client.get(reverse("customers:detail", args=[customer.pk]))
    assert response.status_code == 200
    return response.content.decode()


def panel_of(html: str) -> str:
    start = html.index('id="datasource-panel"')
    return html[start : html.index("</section>", start)]


def url(name: str, customer) -> str:
    return reverse(f"datasources:{name}", args=[customer.pk])


@pytest.fixture
def customer(ops):
    return make_customer(actor=ops, complete=True)


@pytest.fixture
def factory_ds(customer, devops):
    """A record only (no server behind it): for what the panel shows."""
    return make_datasource(
        customer,
        actor=devops,
        host="192.0.2.55",
        port=3307,
        username="tenant_app_panel",
        database="panel_db_only",
        remarks="备注-面板测试",
    )


# --- the panel ---------------------------------------------------------------------------


def test_none_configured(client_for, customer, ops, manager, devops, admin_user):
    for user in (ops, manager):
        panel = panel_of(detail(client_for(user), customer))
        assert "暂未配置数据源" in panel
        assert "配置数据源" not in panel.replace("暂未配置数据源", "")
        assert 'id="btn-ds-configure"' not in panel
    for user in (devops, admin_user):
        panel = panel_of(detail(client_for(user), customer))
        assert "暂未配置数据源" in panel and 'id="btn-ds-configure"' in panel


def test_ops_see_the_status_only(client_for, customer, factory_ds, ops, manager, devops):
    for user in (ops, manager):
        html = detail(client_for(user), customer)
        panel = panel_of(html)
        assert "MySQL（含 MariaDB）" in panel
        assert 'data-impl-status="0"' in panel and "未实施" in panel
        assert devops.display_name in panel  # 配置人
        for hidden in (
            "192.0.2.55",
            "tenant_app_panel",
            "panel_db_only",
            factory_ds.name,
            "备注-面板测试",
            "******",
            "Tenant#2026pw",
            factory_ds.password_encrypted,
        ):
            assert hidden not in html, hidden
        for action in ("btn-ds-advance", "btn-ds-delete", "btn-ds-probe", "btn-ds-configure"):
            assert action not in html


def test_devops_see_every_field_but_the_password(client_for, customer, factory_ds, devops):
    html = detail(client_for(devops), customer)
    panel = panel_of(html)
    for shown in (
        factory_ds.name,
        "192.0.2.55:3307",
        "panel_db_only",
        "tenant_app_panel",
        "******",
        "备注-面板测试",
        "推进到下一状态（实施中）",
    ):
        assert shown in panel, shown
    assert 'id="btn-ds-delete"' in panel and 'id="btn-ds-probe"' in panel
    assert "Tenant#2026pw" not in html and factory_ds.password_encrypted not in html
    # No edit control: no form field carries a saved value.
    assert 'name="host"' not in html and "编辑数据源" not in html


def test_panel_fragment_and_scope(client_for, customer, factory_ds, ops, ops2, devops):
    fragment = client_for(ops).get(url("panel", customer), **HX)
    assert fragment.status_code == 200
    body = fragment.content.decode()
    assert body.lstrip().startswith("<section") and "未实施" in body
    assert "tenant_app_panel" not in body
    assert client_for(ops2).get(url("panel", customer)).status_code == 404
    assert "tenant_app_panel" in client_for(devops).get(url("panel", customer)).content.decode()


def test_online_and_in_progress_hide_delete(client_for, customer, factory_ds, devops):
    DataSource.objects.filter(pk=factory_ds.pk).update(impl_status=1)
    panel = panel_of(detail(client_for(devops), customer))
    assert 'id="btn-ds-delete"' not in panel and "推进到下一状态（已上线）" in panel
    DataSource.objects.filter(pk=factory_ds.pk).update(impl_status=2)
    panel = panel_of(detail(client_for(devops), customer))
    assert 'id="btn-ds-advance"' not in panel and 'data-impl-status="2"' in panel


def add_runs_and_history(customer, ds, actor, n: int) -> None:
    for i in range(n):
        ProvisioningRun.objects.create(
            customer=customer,
            name=f"DS-X-{i}",
            database=f"x_{i}",
            db_type="mysql",
            host="192.0.2.1",
            port=3306,
            username="u",
            status="failed",
            steps=[{"code": "check", "label": "检测连接", "status": "failed", "message": "m"}],
            started_by=actor,
        )
        AuditLog.objects.create(
            action="datasource_status",
            actor=actor,
            actor_name=actor.display_name,
            content_type=ContentType.objects.get_for_model(DataSource),
            object_id=str(ds.pk),
        )


def test_detail_page_runs_no_query_per_row(client_for, customer, factory_ds, devops):
    client = client_for(devops)
    add_runs_and_history(customer, factory_ds, devops, 1)
    detail(client, customer)  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as one:
        detail(client, customer)
    add_runs_and_history(customer, factory_ds, devops, 4)
    with CaptureQueriesContext(connection) as five:
        html = detail(client, customer)
    assert html.count("DS-X-") == 5
    assert len(five) == len(one) <= 30


# --- configure ---------------------------------------------------------------------------


def test_configure_from_the_customer_page(client_for, tenant, customer, devops):
    """保存 queues the provisioning and shows its steps live; the panel shows the run
    under way to whoever opens the page; when the worker has finished (``run_queued`` is
    the worker's part) the poll shows the result and tells the page to reload the panel."""
    account, admin = tenant
    client = client_for(devops)
    modal = client.get(url("configure", customer), **HX).content.decode()
    assert modal.startswith('<div class="modal-backdrop">')
    name = f"DS-{customer.enterprise_no}-1"
    assert name in modal and 'type="password"' in modal
    assert 'name="password" value' not in modal

    check = client.post(url("check", customer), account.data(), **HX).content.decode()
    assert "检测通过" in check and "finding-ok" in check and "finding-error" not in check
    assert account.password not in check
    assert not DataSource.objects.exists()

    response = client.post(url("configure", customer), account.data(), **HX)
    body = response.content.decode().strip()
    run = ProvisioningRun.objects.get()
    run_url = reverse("datasources:run", args=[customer.pk, run.pk])
    assert response.status_code == 200 and body.startswith('<div id="ds-configure"')
    assert f'hx-get="{run_url}" hx-trigger="every 1s"' in body
    assert 'data-run-status="queued"' in body and "排队中" in body
    assert account.password not in body and "HX-Trigger" not in response
    assert not DataSource.objects.exists()

    # Reloading the page shows the run under way, and no second 配置数据源.
    panel = panel_of(detail(client, customer))
    assert 'id="ds-run-live"' in panel and f"{run_url}?in=panel" in panel
    assert 'id="btn-ds-configure"' not in panel
    again = client.post(url("configure", customer), account.data(), **HX).content.decode()
    assert "正在配置中" in again and ProvisioningRun.objects.count() == 1

    assert run_queued(run.pk).status == ProvisioningRun.Status.SUCCEEDED
    polled = client.get(run_url, **HX)
    text = polled.content.decode()
    assert polled["HX-Trigger"] == "datasource-changed" and "hx-trigger" not in text
    assert "已配置数据源" in text and 'data-status="ok"' in text
    live = client.get(run_url + "?in=panel", **HX).content.decode()
    assert live.strip().startswith('<div id="ds-run-live"') and "every 2s" not in live
    ds = DataSource.objects.get(customer=customer)
    assert ds.name == name and ds.configured_by == devops
    assert admin.database_exists(ds.database)
    page = detail(client, customer)
    assert 'id="ds-run-live"' not in page and 'id="ds-fields"' in page
    assert "配置记录" in page and "保存配置" in page  # the recorded steps
    assert AuditLog.objects.filter(action="datasource_configure", actor=devops).count() == 1
    assert AuditLog.objects.filter(action="datasource_check", actor=devops).count() == 1

    # Saved means read-only: the configure page now only says so.
    again = client.get(url("configure", customer), **HX).content.decode()
    assert "已配置数据源" in again and "不可修改" in again and "<form" not in again
    refused = client.post(url("configure", customer), account.data(port=1), **HX)
    assert "不可修改" in refused.content.decode()
    assert DataSource.objects.get(pk=ds.pk).port == account.port


def test_without_htmx_saving_leads_to_the_runs_page(client_for, tenant, customer, devops):
    account, _admin = tenant
    client = client_for(devops)
    response = client.post(url("configure", customer), account.data())
    run = ProvisioningRun.objects.get()
    run_url = reverse("datasources:run", args=[customer.pk, run.pk])
    assert response.status_code == 302 and response["Location"] == run_url
    page = client.get(run_url).content.decode()
    assert "<html" in page and "排队中" in page and "检测连接" in page


def test_a_failed_run_offers_retry_refill_and_cleanup(client_for, tenant, customer, devops):
    account, admin = tenant
    client = client_for(devops)
    data = account.data(password=WRONG, remarks="保留的备注")
    client.post(url("configure", customer), data, **HX)
    run = run_queued(ProvisioningRun.objects.get().pk)
    run_url = reverse("datasources:run", args=[customer.pk, run.pk])
    body = client.get(run_url, **HX).content.decode()
    assert "第 1 步「检测连接」失败" in body and "未保存任何配置" in body
    assert 'data-step="check" data-status="failed"' in body
    for button in ("btn-ds-retry", "btn-ds-refill", "btn-ds-cleanup"):
        assert f'id="{button}"' in body, button
    assert WRONG not in body and account.password not in body
    panel = panel_of(detail(client, customer))
    assert f'id="btn-ds-retry-{run.pk}"' in panel and f'id="btn-ds-cleanup-{run.pk}"' in panel

    # 修改后重新配置: the form again, filled from the run, never with its password.
    refill = client.get(url("configure", customer) + f"?from={run.pk}", **HX).content.decode()
    assert f'value="{account.username}"' in refill and "保留的备注" in refill
    assert f'value="{account.host}"' in refill and f'value="{account.port}"' in refill
    assert WRONG not in refill and 'name="password" value' not in refill
    # The next attempt previews the next name: the failed one used up number 1.
    assert f"DS-{customer.enterprise_no}-2" in refill
    assert admin.databases() == []

    # 重试 queues the same run again and shows it live in the modal.
    retried = client.post(reverse("datasources:retry", args=[customer.pk, run.pk]), **HX)
    text = retried.content.decode()
    assert retried["HX-Retarget"] == "#modal" and text.startswith('<div class="modal-backdrop">')
    assert 'data-run-status="queued"' in text and "every 1s" in text
    run.refresh_from_db()
    assert run.status == ProvisioningRun.Status.QUEUED and run.attempts == 2
    twice = client.post(reverse("datasources:retry", args=[customer.pk, run.pk]), **HX)
    assert "只有失败且未清理的配置记录可以重试" in twice.content.decode()
    assert run_queued(run.pk).status == ProvisioningRun.Status.FAILED  # still the wrong password

    # 清理: confirm, then the password it kept is gone and 重试 with it.
    cleanup_url = reverse("datasources:cleanup", args=[customer.pk, run.pk])
    confirm = client.get(cleanup_url, **HX).content.decode()
    assert "没有在数据库服务器上留下内容" in confirm and "保存的密码也会一并删除" in confirm
    done = client.post(cleanup_url, **HX)
    assert done.status_code == 204 and done["HX-Redirect"].endswith(f"/customers/{customer.pk}/")
    run.refresh_from_db()
    assert run.cleaned_at and run.secret_encrypted == "" and not run.retryable
    page = detail(client, customer)
    assert f"已清理配置记录 {run.name}" in page
    panel = panel_of(page)
    assert "已清理" in panel and f'id="btn-ds-retry-{run.pk}"' not in panel


def test_a_run_waiting_for_a_worker_says_so(client_for, customer, devops):
    from django.utils import timezone

    run = ProvisioningRun.objects.create(
        customer=customer, name="DS-W-1", database="w_1", db_type="mysql", host="10.0.3.12",
        port=3306, username="tenant_app", status=ProvisioningRun.Status.QUEUED,
        progress_at=timezone.now() - dt.timedelta(seconds=90), started_by=devops,
    )  # fmt: skip
    body = (
        client_for(devops)
        .get(reverse("datasources:run", args=[customer.pk, run.pk]), **HX)
        .content.decode()
    )
    assert "已等待 90 秒" in body or "已等待 91 秒" in body
    assert "尚未检测到任务进程" in body and "celery -A config worker" in body


def test_another_customers_run_is_not_found(client_for, customer, devops, ops):
    other = make_customer(actor=ops, complete=True)
    run = ProvisioningRun.objects.create(
        customer=other, name="DS-O-1", database="o_1", db_type="mysql", host="10.0.3.12",
        port=3306, username="tenant_app", status=ProvisioningRun.Status.FAILED,
        started_by=devops,
    )  # fmt: skip
    client = client_for(devops)
    for name in ("run", "cleanup"):
        response = client.get(reverse(f"datasources:{name}", args=[customer.pk, run.pk]))
        assert response.status_code == 404, name
    refill = client.get(url("configure", customer) + f"?from={run.pk}")
    assert refill.status_code == 404


def test_invalid_input_names_each_field(client_for, customer, devops):
    client = client_for(devops)
    body = client.post(
        url("configure", customer),
        {"host": "", "port": "x", "username": "root", "password": "weak", "max_connections": "1",
         "min_connections": "5"},
        **HX,
    ).content.decode()  # fmt: skip
    expected = ("数据库地址：", "端口：请输入整数", "账号：", "密码强度不足", "最小连接数不能大于")
    for text in expected:
        assert text in body, text
    assert "最小连接数：最小连接数" not in body  # each message names its field once
    assert "weak" not in body
    check = client.post(url("check", customer), {"host": "db", "password": "weak"}, **HX)
    text = check.content.decode()
    assert "请先修正以下内容再检测" in text and "端口：此项为必填项" in text
    assert not ProvisioningRun.objects.exists()


def test_check_shows_each_finding_with_its_level(
    client_for, customer, devops, mysql_global_account
):
    body = (
        client_for(devops)
        .post(url("check", customer), mysql_global_account.data(), **HX)
        .content.decode()
    )
    assert "检测未通过" in body
    assert 'class="finding finding-ok" data-code="reachable"' in body
    assert 'class="finding finding-error" data-code="global_privileges"' in body
    assert "不通过" in body and "通过" in body


# --- 实施状态 ------------------------------------------------------------------------------


def test_advance_one_step_with_confirmation(client_for, customer, factory_ds, devops):
    client = client_for(devops)
    modal = client.get(url("status", customer), **HX).content.decode()
    assert "确认推进到「实施中」" in modal and 'name="to" value="1"' in modal
    response = client.post(url("status", customer), {"to": "1"}, **HX)
    assert response.status_code == 204
    assert DataSource.objects.get(pk=factory_ds.pk).impl_status == 1
    # The same form submitted twice does not move two steps.
    repeated = client.post(url("status", customer), {"to": "1"}, **HX).content.decode()
    assert "实施状态已是「实施中」" in repeated
    assert client.post(url("status", customer), {"to": "2"}, **HX).status_code == 204
    final = client.get(url("status", customer), **HX).content.decode()
    assert "已上线，实施状态不能再变更" in final and "<form" not in final
    assert AuditLog.objects.filter(action="datasource_status").count() == 2


def test_actions_need_a_data_source(client_for, customer, devops):
    client = client_for(devops)
    for name in ("status", "delete", "probe"):
        assert client.get(url(name, customer)).status_code == 404


# --- delete and 检测数据 -------------------------------------------------------------------


def test_probe_and_delete_from_the_console(client_for, tenant, customer, devops):
    account, admin = tenant
    ds = datasource_configure(actor=devops, customer=customer, data=account.data())
    client = client_for(devops)

    probe = client.get(url("probe", customer), **HX).content.decode()
    assert "所有表均无数据" in probe and "已上线小区：0 个" in probe
    admin.run_in(ds.database, "INSERT INTO {db}.communities (name, online) VALUES ('一期', TRUE)")
    probe = client.get(url("probe", customer), **HX).content.decode()
    assert "communities" in probe and "已上线小区：1 个" in probe

    modal = client.get(url("delete", customer), **HX).content.decode()
    assert ds.name in modal and 'name="confirm_name"' in modal
    wrong = client.post(url("delete", customer), {"confirm_name": "x"}, **HX).content.decode()
    assert f"请输入数据源名称 {ds.name} 以确认删除" in wrong
    has_data = client.post(url("delete", customer), {"confirm_name": ds.name}, **HX)
    assert "以下表有数据，不能删除：communities" in has_data.content.decode()
    assert DataSource.objects.filter(pk=ds.pk).exists()

    admin.run_in(ds.database, "DELETE FROM {db}.communities")
    done = client.post(url("delete", customer), {"confirm_name": ds.name}, **HX)
    assert done.status_code == 204
    assert not DataSource.objects.exists() and DataSourceTombstone.objects.get().name == ds.name
    assert not admin.database_exists(ds.database)
    assert "暂未配置数据源" in panel_of(detail(client, customer))


def test_probe_reports_an_unreachable_server(client_for, customer, devops):
    make_datasource(customer, actor=devops, host="127.0.0.1", port=1)
    body = client_for(devops).get(url("probe", customer), **HX).content.decode()
    assert "无法检测租户数据库" in body and "msg-error" in body


def test_pages_work_without_htmx(client_for, customer, factory_ds, devops):
    client = client_for(devops)
    for name in ("status", "delete"):
        page = client.get(url(name, customer)).content.decode()
        assert "<html" in page and "返回客户" in page
    response = client.post(url("status", customer), {"to": "1"})
    assert response.status_code == 302
