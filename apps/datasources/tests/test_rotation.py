"""轮换账号 on the real MariaDB and PostgreSQL: a client holding the old credentials keeps
working through the grace period, the new ones work at once, the old ones fail after they
are retired; the passwords appear in no log line or audit row; a failure changes nothing."""

from __future__ import annotations

import datetime as dt
import itertools

import psycopg
import pymysql
import pytest
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.tests.factories import make_staff, make_token
from apps.api.auth import registry_auth
from apps.api.tests.helpers import API, bearer
from apps.audit.models import AuditLog
from apps.core.errors import Conflict, ValidationFailed
from apps.customers.tests.factories import make_customer
from apps.datasources.models import CredentialRotation, DataSource, RetiredDataSource
from apps.datasources.relocation import relocation_request
from apps.datasources.rotation import retire_due, rotation_request, run_rotation
from apps.datasources.services import datasource_configure
from apps.datasources.tests.test_clearing import tenant_sql
from tests.tenant_fixtures import PREFIX, RUN, _mysql_user, _pg_role

pytestmark = pytest.mark.django_db

_seq = itertools.count(1)
ADMIN = {"mysql": ("root", ""), "postgresql": ("postgres", "")}


def connect(ds_or_values, username: str, password: str):
    """A client of the tenant database with the given credentials (a pooled connection of
    the business system)."""
    ds = ds_or_values
    if ds.db_type == "mysql":
        return pymysql.connect(
            host=ds.host,
            port=ds.port,
            user=username,
            password=password,
            database=ds.database,
            autocommit=True,
            connect_timeout=3,
        )
    return psycopg.connect(
        host=ds.host,
        port=ds.port,
        user=username,
        password=password,
        dbname=ds.database,
        autocommit=True,
        connect_timeout=3,
    )


def count(conn) -> int:
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM communities")
    value = cur.fetchone()[0]
    cur.close()
    return int(value)


def refused(ds, username: str, password: str) -> bool:
    try:
        connect(ds, username, password).close()
    except (pymysql.OperationalError, psycopg.OperationalError):
        return True
    return False


@pytest.fixture
def own_account(tenant):
    """An account of this test's own (rotating retires it): like the session's tenant
    account, least privilege; it and the accounts rotations make are dropped after."""
    _account, admin = tenant
    name = f"hgjo{next(_seq)}_{RUN}"
    if admin.db_type == "mysql":
        pattern = PREFIX.replace("_", "\\_") + "%"
        account = _mysql_user(admin, name, f"GRANT ALL PRIVILEGES ON `{pattern}`.* TO {{user}}")
    else:
        account = _pg_role(admin, name, "LOGIN CREATEDB")
    yield account
    if admin.db_type == "postgresql":
        admin.drop_run_databases()
    for role in (name + "_r3", name + "_r2", name):
        if admin.db_type == "mysql":
            admin.execute(f"DROP USER IF EXISTS '{role}'@'%'")
        else:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture
def ds(own_account, devops, ops):
    customer = make_customer(actor=ops, complete=True)
    ds = datasource_configure(actor=devops, customer=customer, data=own_account.data())
    tenant_sql(ds, "INSERT INTO communities (name) VALUES ('阳光花园')")
    DataSource.objects.filter(pk=ds.pk).update(impl_status=DataSource.ImplStatus.ONLINE)
    ds.refresh_from_db()
    return ds


@pytest.fixture
def registry(client):
    registry_auth.clear_cache()
    raw = make_token(make_staff("bizsys", None, name="业务系统"), scopes=(ApiToken.SCOPE_REGISTRY,))

    def read(no: str) -> tuple[dict, str]:
        response = client.get(f"{API}/registry/tenants/{no}", **bearer(raw))
        assert response.status_code == 200
        return response.json()["datasource"], response["ETag"]

    yield read
    registry_auth.clear_cache()


def rotate(ds, devops) -> CredentialRotation:
    user, password = ADMIN[ds.db_type]
    return run_rotation(
        rotation_request(
            actor=devops, datasource=ds, admin_username=user, admin_password=password
        ).pk
    )


def test_rotation_keeps_old_clients_working_through_the_grace_then_retires_them(
    ds, own_account, devops, registry, caplog, settings
):
    settings.ROTATION_GRACE_SECONDS = 600
    account = own_account
    no = ds.customer.enterprise_no
    before, etag = registry(no)
    pooled = connect(ds, account.username, account.password)  # opened before the rotation

    rotation = rotate(ds, devops)
    assert rotation.status == "switched", rotation.message
    assert [s["code"] for s in rotation.steps] == ["admin", "create_account", "verify", "switch"]
    new = DataSource.objects.get(customer=ds.customer)
    assert (new.generation, new.username, new.database) == (
        2,
        account.username + "_r2",
        ds.database,
    )
    password = new.get_password()
    answer, new_etag = registry(no)
    assert answer["username"] == new.username and answer["password"] == password
    assert new_etag != etag and before["username"] == account.username

    # Grace: the old credentials still work, for pooled and new connections alike; the new
    # ones work at once and can write.
    assert count(pooled) == 1
    with connect(ds, account.username, account.password) as old_client:
        assert count(old_client) == 1
    with connect(ds, new.username, password) as new_client:
        cur = new_client.cursor()
        cur.execute("INSERT INTO communities (name) VALUES ('翠湖')")
        cur.close()
        assert count(new_client) == 2
    assert refused(ds, new.username, "Wrong#Pass1")  # the server checks its password
    assert retire_due() == 0  # not yet

    assert retire_due(now=timezone.now() + dt.timedelta(seconds=601)) == 1
    rotation.refresh_from_db()
    assert rotation.status == "done" and rotation.admin_secret_encrypted == ""
    assert refused(ds, account.username, account.password)
    with connect(ds, new.username, password) as new_client:
        assert count(new_client) == 2
    old = RetiredDataSource.objects.get(customer=ds.customer)
    assert old.reason == "rotation" and old.removed_at and old.username == account.username

    # Never shown, never logged, never audited.
    assert password not in caplog.text
    for row in AuditLog.objects.all():
        assert password not in row.message and password not in str(row.changes)
    pooled.close()

    # A second rotation: the first rotated account (which owns nothing) is dropped.
    second = rotate(new, devops)
    assert second.status == "switched", second.message
    third = DataSource.objects.get(customer=ds.customer)
    assert third.username == account.username + "_r3" and third.generation == 3
    retire_due(now=timezone.now() + dt.timedelta(seconds=601))
    assert refused(ds, new.username, password)
    with connect(ds, third.username, third.get_password()) as client:
        assert count(client) == 2
    assert refused(ds, third.username, "Wrong#Pass1")


def test_a_wrong_admin_password_changes_nothing(ds, own_account, devops, registry):
    account = own_account
    before = registry(ds.customer.enterprise_no)
    rotation = run_rotation(
        rotation_request(
            actor=devops,
            datasource=ds,
            admin_username=account.username,  # a tenant account cannot create accounts
            admin_password=account.password,
        ).pk
    )
    assert rotation.status == "failed" and rotation.failed_step == "create_account"
    assert "数据源与账号保持不变" in rotation.message
    assert rotation.admin_secret_encrypted == ""
    assert DataSource.objects.get(customer=ds.customer).pk == ds.pk
    assert registry(ds.customer.enterprise_no) == before
    assert refused(ds, account.username + "_r2", "x")


def test_input_and_one_operation_at_a_time(ds, devops, second_account):
    with pytest.raises(ValidationFailed) as exc:
        rotation_request(actor=devops, datasource=ds, admin_username=" ", admin_password="")
    assert "admin_username" in exc.value.fields
    relocation_request(actor=devops, datasource=ds, data=second_account.data())
    user, password = ADMIN[ds.db_type]
    with pytest.raises(Conflict):
        rotation_request(actor=devops, datasource=ds, admin_username=user, admin_password=password)


def test_the_api_rotates_and_the_old_generation_is_not_a_database_to_remove(
    ds, own_account, devops, client_for
):
    from apps.api.tests.helpers import call
    from apps.datasources.relocation import retired_remove

    base = f"{API}/customers/{ds.customer_id}/datasource"
    dev = client_for(devops)
    user, password = ADMIN[ds.db_type]
    bad = call(dev, "post", f"{base}/rotations", {"admin_username": ""})
    assert bad.status_code == 422 and "admin_username" in bad.json()["fields"]
    response = call(
        dev, "post", f"{base}/rotations", {"admin_username": user, "admin_password": password}
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["new_username"] == own_account.username + "_r2"
    run_rotation(body["id"])
    done = dev.get(f"{base}/rotations/{body['id']}").json()
    assert done["status"] == "switched" and done["grace_until"]
    new = DataSource.objects.get(customer=ds.customer)
    assert new.get_password() not in str(done) and new.get_password() not in str(
        dev.get(f"{base}/rotations").json()
    )
    old = RetiredDataSource.objects.get(customer=ds.customer)
    with pytest.raises(Conflict) as exc:
        retired_remove(actor=devops, retired=old, confirm_name=old.name)
    assert "共用数据库" in exc.value.message


def test_the_reaper_settles_a_rotation_whose_worker_died(ds, own_account, devops):
    from apps.datasources.rotation import reap_stale

    user, password = ADMIN[ds.db_type]
    record = rotation_request(
        actor=devops, datasource=ds, admin_username=user, admin_password=password
    )
    CredentialRotation.objects.filter(pk=record.pk).update(
        status="running", progress_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert reap_stale() == 1
    record.refresh_from_db()
    assert record.status == "failed" and "数据源与账号保持不变" in record.message
    assert record.admin_secret_encrypted == ""
    # A second one may start now.
    assert rotate(ds, devops).status == "switched"
