"""重试 and 清理 of failed provisioning runs, against the real MariaDB and PostgreSQL
servers. A run whose worker died is left as a killed worker leaves it — the database
created, part of the baseline applied, the run 进行中 with no progress — then reaped; 重试
resumes it from its recorded steps, 清理 removes what it created and the password it kept.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.models import AuditLog
from apps.core import crypto
from apps.core.errors import Conflict, Forbidden
from apps.customers.tests.factories import make_customer
from apps.datasources import tenantdb
from apps.datasources.models import DataSource, ProvisioningRun
from apps.datasources.provisioning import _statements, reap_stale_runs, run_queued
from apps.datasources.services import datasource_cleanup, datasource_queue, datasource_retry

pytestmark = pytest.mark.django_db

Status = ProvisioningRun.Status


@pytest.fixture
def customer(ops):
    return make_customer(actor=ops, complete=True)


def connector(run: ProvisioningRun) -> tenantdb.Connector:
    password = crypto.decrypt(run.secret_encrypted)
    target = tenantdb.Target(run.db_type, run.host, run.port, run.username, password, run.database)
    return tenantdb.connector_for(target)


def step(code: str) -> dict:
    return {"code": code, "label": code, "status": "ok", "message": "", "ms": 1}


def killed(devops, customer, account, *, statements: int | None, done: tuple[str, ...]):
    """Queue a run and leave it as a worker killed mid-pipeline leaves it: the database
    created by the run, the first ``statements`` baseline statements applied (all when
    None), ``done`` steps recorded, no progress for an hour; then reaped."""
    run = datasource_queue(actor=devops, customer=customer, data=account.data())
    with connector(run) as c:
        if isinstance(c, tenantdb.PostgresConnector):
            c.create_database(run.database, template0=False)
        else:
            c.create_database(run.database)
        if statements is None:  # the whole schema, versions recorded
            c.ensure_version_table(run.database)
            for migration in tenantdb.migrations(run.db_type):
                c.apply_migration(run.database, migration)
        else:
            c.run_script(run.database, _statements(run.db_type)[:statements])
    ProvisioningRun.objects.filter(pk=run.pk).update(
        status=Status.RUNNING,
        footprint={"database": True},
        steps=[step(code) for code in done],
        progress_at=timezone.now() - dt.timedelta(hours=1),
    )
    [reaped] = reap_stale_runs()
    assert reaped.pk == run.pk
    run.refresh_from_db()
    assert run.status == Status.FAILED and run.retryable and run.cleanable
    return run


def fresh_tables(devops, ops, account, admin) -> list[str]:
    """The tables an uninterrupted provisioning creates, for comparison."""
    other = make_customer(actor=ops, complete=True)
    run = run_queued(datasource_queue(actor=devops, customer=other, data=account.data()).pk)
    assert run.status == Status.SUCCEEDED, run.message
    return admin.tables(run.database)


def test_retry_resumes_a_run_cut_off_while_applying_the_schema(tenant, devops, ops, customer):
    account, admin = tenant
    run = killed(devops, customer, account, statements=1, done=("check", "create_database"))
    assert run.failed_step == "apply_schema"
    assert len(admin.tables(run.database)) >= 1  # the partial schema is still there

    run = datasource_retry(actor=devops, customer=customer, run_id=run.pk)
    assert run.status == Status.QUEUED and run.attempts == 2 and run.message == ""
    assert AuditLog.objects.filter(action="datasource_retry", actor=devops).exists()

    run = run_queued(run.pk)
    assert run.status == Status.SUCCEEDED, run.message
    by_code = {s["code"]: s for s in run.steps}
    assert by_code["create_database"]["status"] == "skipped"
    assert "沿用上次执行时创建的数据库" in by_code["create_database"]["message"]
    assert by_code["apply_schema"]["status"] == "ok"
    assert run.footprint == {} and run.secret_encrypted == ""
    ds = DataSource.objects.get(customer=customer)
    assert ds.database == run.database and ds.database_created  # 删除 drops it later
    assert admin.tables(run.database) == fresh_tables(devops, ops, account, admin)


def test_retry_does_not_apply_a_completed_schema_again(tenant, devops, customer):
    account, _admin = tenant
    run = killed(
        devops,
        customer,
        account,
        statements=None,
        done=("check", "create_database", "apply_schema"),
    )
    assert run.failed_step == "verify"
    run = run_queued(datasource_retry(actor=devops, customer=customer, run_id=run.pk).pk)
    assert run.status == Status.SUCCEEDED, run.message
    by_code = {s["code"]: s for s in run.steps}
    assert by_code["apply_schema"]["status"] == "skipped"
    assert by_code["apply_schema"]["message"] == "上次执行时已完成"
    assert by_code["verify"]["status"] == "ok"


def test_cleanup_removes_what_the_run_created_and_its_password(tenant, devops, customer):
    account, admin = tenant
    run = killed(devops, customer, account, statements=1, done=("check", "create_database"))
    assert admin.database_exists(run.database)

    run = datasource_cleanup(actor=devops, customer=customer, run_id=run.pk)
    assert not admin.database_exists(run.database)
    assert run.footprint == {} and run.secret_encrypted == "" and run.cleaned_at
    assert run.status == Status.FAILED and not run.retryable and not run.cleanable
    row = AuditLog.objects.get(action="datasource_run_cleanup")
    assert row.actor == devops and "已删除本次创建的数据库" in row.message
    assert account.password not in str(row.changes) + row.message

    with pytest.raises(Conflict) as again:
        datasource_retry(actor=devops, customer=customer, run_id=run.pk)
    assert again.value.code == "run_not_retryable"
    with pytest.raises(Conflict) as twice:
        datasource_cleanup(actor=devops, customer=customer, run_id=run.pk)
    assert twice.value.code == "run_not_cleanable"
    # A new configuration starts under new names and succeeds.
    new = run_queued(datasource_queue(actor=devops, customer=customer, data=account.data()).pk)
    assert new.status == Status.SUCCEEDED and new.database != run.database


def test_cleanup_in_an_existing_database_keeps_the_database(tenant, devops, customer):
    """A run that was creating tables in an existing empty database: 清理 removes the
    tables it created and keeps the database, which was not the run's."""
    account, admin = tenant
    run = killed(devops, customer, account, statements=1, done=("check", "create_database"))
    ProvisioningRun.objects.filter(pk=run.pk).update(footprint={"objects_before": []})
    datasource_cleanup(actor=devops, customer=customer, run_id=run.pk)
    assert admin.database_exists(run.database) and admin.tables(run.database) == []


def test_a_failure_the_pipeline_cleaned_up_is_retried_from_the_start(tenant, devops, customer):
    """The pipeline removes what a failed step created; the run keeps its password, so
    once the cause is fixed 重试 runs every step again with the same input."""
    account, admin = tenant
    run = datasource_queue(actor=devops, customer=customer, data=account.data())
    admin.create_database_with_table(run.database)  # someone else's table in the way
    run = run_queued(run.pk)
    assert run.status == Status.FAILED and run.failed_step == "check"
    assert run.footprint == {} and run.retryable

    admin.drop_run_databases()
    run = run_queued(datasource_retry(actor=devops, customer=customer, run_id=run.pk).pk)
    assert run.status == Status.SUCCEEDED, run.message
    assert [s["status"] for s in run.steps] == ["ok"] * 5
    assert DataSource.objects.get(customer=customer).name == run.name


def test_success_erases_the_passwords_of_the_customers_failed_runs(tenant, devops, customer):
    account, _admin = tenant
    failed = run_queued(
        datasource_queue(
            actor=devops, customer=customer, data=account.data(password="Wrong#Pass2026")
        ).pk
    )
    assert failed.status == Status.FAILED and failed.secret_encrypted
    run_queued(datasource_queue(actor=devops, customer=customer, data=account.data()).pk)
    failed.refresh_from_db()
    assert failed.secret_encrypted == "" and not failed.retryable


def test_what_retry_and_cleanup_refuse(tenant, devops, ops, customer):
    account, _admin = tenant
    run = datasource_queue(actor=devops, customer=customer, data=account.data())
    for action in (datasource_retry, datasource_cleanup):
        with pytest.raises(Conflict):  # still queued
            action(actor=devops, customer=customer, run_id=run.pk)
        with pytest.raises(Forbidden):
            action(actor=ops, customer=customer, run_id=run.pk)
    other = make_customer(actor=ops, complete=True)
    from apps.core.errors import NotFound

    with pytest.raises(NotFound):  # another customer's run
        datasource_retry(actor=devops, customer=other, run_id=run.pk)

    run = run_queued(run.pk)
    assert run.status == Status.SUCCEEDED
    with pytest.raises(Conflict) as succeeded:
        datasource_retry(actor=devops, customer=customer, run_id=run.pk)
    assert succeeded.value.code == "run_not_retryable"


def test_retry_is_refused_once_the_customer_has_a_data_source(tenant, devops, customer):
    account, _admin = tenant
    run = killed(devops, customer, account, statements=1, done=("check", "create_database"))
    ok = run_queued(datasource_queue(actor=devops, customer=customer, data=account.data()).pk)
    assert ok.status == Status.SUCCEEDED
    with pytest.raises(Conflict) as refused:
        datasource_retry(actor=devops, customer=customer, run_id=run.pk)
    assert refused.value.code == "datasource_exists"
    run.refresh_from_db()
    assert run.cleanable  # its database is still there to clean up
    datasource_cleanup(actor=devops, customer=customer, run_id=run.pk)


def test_cleanup_that_cannot_reach_the_server_changes_nothing(devops, customer):
    run = ProvisioningRun.objects.create(
        customer=customer, name="DS-C-1", database="t_cleanup_unreachable", db_type="mysql",
        host="127.0.0.1", port=1, username="tenant_app", status=Status.FAILED,
        secret_encrypted=crypto.encrypt("Secret#2026pw"), footprint={"database": True},
        started_by=devops,
    )  # fmt: skip
    with pytest.raises(Conflict) as refused:
        datasource_cleanup(actor=devops, customer=customer, run_id=run.pk)
    assert refused.value.code == "cleanup_failed" and "清理未完成" in refused.value.message
    assert "Secret#2026pw" not in refused.value.message
    run.refresh_from_db()
    assert run.footprint == {"database": True} and run.secret_encrypted and not run.cleaned_at
    assert not AuditLog.objects.filter(action="datasource_run_cleanup").exists()
