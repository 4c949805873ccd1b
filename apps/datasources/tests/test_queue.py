"""Provisioning through the task queue, end to end, with a real worker process sharing the
test's control database and the real tenant servers (MariaDB, PostgreSQL): the run is
queued with the password encrypted on it, the task carries the run's id only, the worker
runs the recorded pipeline, and a failure leaves nothing behind."""

from __future__ import annotations

import time

import pytest
from celery import signals

from apps.audit.models import AuditLog
from apps.core.errors import Conflict
from apps.customers.tests.factories import make_customer
from apps.datasources.models import DataSource, ProvisioningRun
from apps.datasources.provisioning import run_queued
from apps.datasources.services import datasource_queue
from tests.servers import Worker, control_database_url, sending_to
from tests.tenant_fixtures import PREFIX

pytestmark = pytest.mark.django_db(transaction=True)  # the worker reads what we commit


@pytest.fixture
def worker(transactional_db, tmp_path):
    """One per test: the flush between transactional tests renumbers the content types a
    longer-lived worker would still hold in its cache."""
    worker = Worker(
        tmp_path,
        database_url=control_database_url(),
        env={"TENANT_DB_PREFIX": PREFIX, "TENANT_CONNECT_TIMEOUT": "3"},
    )
    try:
        with sending_to(worker):
            yield worker
    finally:
        worker.stop()


@pytest.fixture
def published():
    """Every task message published during the test: (task name, args, kwargs, headers)."""
    seen: list[tuple] = []

    def capture(sender=None, body=None, headers=None, **_kwargs):
        args, kwargs, _embed = body
        seen.append((sender, args, kwargs, dict(headers or {})))

    signals.before_task_publish.connect(capture, weak=False)
    yield seen
    signals.before_task_publish.disconnect(capture)


def finished(run: ProvisioningRun, timeout: float = 60) -> ProvisioningRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in (ProvisioningRun.Status.SUCCEEDED, ProvisioningRun.Status.FAILED):
            return run
        time.sleep(0.2)
    pytest.fail(f"run {run.pk} still {run.status}")


def test_provisioning_through_the_queue(worker, published, tenant, devops, ops):
    account, admin = tenant
    customer = make_customer(actor=ops, complete=True)
    run = datasource_queue(actor=devops, customer=customer, data=account.data())
    assert run.status == ProvisioningRun.Status.QUEUED and run.secret_encrypted
    assert account.password not in run.secret_encrypted
    [(task, args, kwargs, headers)] = published
    assert (task, list(args), kwargs) == ("datasources.provision", [run.pk], {})
    assert account.password not in repr(headers)

    run = finished(run)
    assert run.status == ProvisioningRun.Status.SUCCEEDED, run.message
    assert [s["code"] for s in run.steps] == [
        "check",
        "create_database",
        "apply_schema",
        "verify",
        "save",
    ]
    assert run.secret_encrypted == ""  # erased once the data source holds the password
    ds = DataSource.objects.get(customer=customer)
    assert (ds.name, ds.database, ds.get_password()) == (run.name, run.database, account.password)
    assert admin.database_exists(ds.database)
    row = AuditLog.objects.get(action="datasource_configure")
    assert row.actor == devops and account.password not in str(row.changes)
    assert account.password not in worker.log.read_text()


def test_a_failed_run_in_the_worker_leaves_nothing(worker, tenant, devops, ops):
    account, admin = tenant
    customer = make_customer(actor=ops, complete=True)
    run = datasource_queue(
        actor=devops, customer=customer, data=account.data(password="Wrong#Pass2026")
    )
    run = finished(run)
    assert run.status == ProvisioningRun.Status.FAILED and run.failed_step == "check"
    assert "检测连接" in run.message and "Wrong#Pass2026" not in run.message
    assert not DataSource.objects.filter(customer=customer).exists()
    assert not admin.database_exists(run.database)
    assert "Wrong#Pass2026" not in worker.log.read_text()


def test_one_run_at_a_time_and_each_run_is_taken_once(tenant, devops, ops):
    account, _admin = tenant
    customer = make_customer(actor=ops, complete=True)
    with sending_to(None):  # nothing consumes: the run stays queued
        run = datasource_queue(actor=devops, customer=customer, data=account.data())
        with pytest.raises(Conflict) as refused:
            datasource_queue(actor=devops, customer=customer, data=account.data())
    assert refused.value.code == "provisioning_in_progress"
    assert run_queued(run.pk).status == ProvisioningRun.Status.SUCCEEDED
    assert run_queued(run.pk) is None  # a second delivery of the task does nothing


def test_the_reaper_fails_runs_whose_worker_stopped(devops, ops, settings):
    """A run left 进行中 by a worker that died makes no more progress: after
    PROVISIONING_STALE_AFTER the reaper marks it failed, naming the step it stopped in,
    once; a run still making progress is left alone."""
    import datetime as dt

    from django.utils import timezone

    from apps.datasources.provisioning import reap_stale_runs
    from apps.datasources.tasks import reap_runs

    settings.PROVISIONING_STALE_AFTER = 600
    now = timezone.now()

    def run(customer, age_seconds):
        return ProvisioningRun.objects.create(
            customer=customer, name=f"DS-R-{customer.pk}", database=f"r_{customer.pk}",
            db_type="mysql", host="10.0.3.12", port=3306, username="tenant_app",
            status=ProvisioningRun.Status.RUNNING,
            steps=[{"code": "check", "label": "检测连接", "status": "ok", "message": ""}],
            progress_at=now - dt.timedelta(seconds=age_seconds), started_by=devops,
        )  # fmt: skip

    dead = run(make_customer(actor=ops, complete=True), 601)
    alive = run(make_customer(actor=ops, complete=True), 30)
    assert [r.pk for r in reap_stale_runs(now=now)] == [dead.pk]
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == ProvisioningRun.Status.FAILED and dead.failed_step == "create_database"
    assert "超过 10 分钟没有进展" in dead.message and "第 2 步「创建数据库」" in dead.message
    assert alive.status == ProvisioningRun.Status.RUNNING
    row = AuditLog.objects.get(action="datasource_configure_failed")
    assert dead.name in row.message
    assert reap_stale_runs(now=now) == [] and reap_runs() == 0  # reaped once
