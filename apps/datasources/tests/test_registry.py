"""The tenant registry the business system reads: registry-scope tokens only, 404 for
unknown tenants, ETag revalidation, every read audited without the secret, few queries."""

import hashlib
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.tests.factories import make_staff, make_token
from apps.api.auth import registry_auth
from apps.api.tests.helpers import API, assert_error, bearer
from apps.audit import tally
from apps.audit.models import AuditLog, ReadTally
from apps.customers.models import Customer
from apps.customers.tests.factories import make_customer
from apps.datasources.models import DataSource
from apps.datasources.tests.factories import make_datasource

pytestmark = pytest.mark.django_db

PASSWORD = "Tenant#2026pw"  # apps.datasources.tests.factories.make_datasource


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    registry_auth.clear_cache()
    yield
    registry_auth.clear_cache()


@pytest.fixture
def machine(db):
    return make_staff("bizsys", None, name="业务系统")


@pytest.fixture
def raw(machine):
    return make_token(machine, scopes=(ApiToken.SCOPE_REGISTRY,))


@pytest.fixture
def ds(ops, devops):
    customer = make_customer(actor=ops, complete=True)
    Customer.objects.filter(pk=customer.pk).update(modules=["property", "repair"])
    return make_datasource(customer, actor=devops, host="192.0.2.20", port=3306, min_connections=2)


def url(no: str) -> str:
    return f"{API}/registry/tenants/{no}"


def test_answer(client, raw, ds):
    response = client.get(url(ds.customer.enterprise_no), **bearer(raw))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store, private"
    etag = response["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert response.json() == {
        "enterprise_no": ds.customer.enterprise_no,
        "name": ds.customer.name,
        "status": "not_opened",
        "modules": ["property", "repair"],
        "schema_version": None,  # never read yet
        "service": {  # not opened: no service, no package; modules as given
            "state": None,
            "ends_on": None,
            "package": None,
            "modules": ["property", "repair"],
            "limits": {"accounts": None, "communities": None},
        },
        "datasource": {
            "name": ds.name,
            "type": "mysql",
            "host": "192.0.2.20",
            "port": 3306,
            "database": ds.database,
            "username": "tenant_app",
            "password": PASSWORD,
            "min_connections": 2,
            "max_connections": 10,
            "impl_status": "not_started",
        },
    }
    lower = client.get(url(ds.customer.enterprise_no.lower()), **bearer(raw))
    assert lower.status_code == 200 and lower["ETag"] == etag


def test_the_schema_version_is_published_and_changes_the_etag(client, raw, ds):
    from apps.datasources import schemas
    from apps.datasources.tenantdb.versions import Applied, SchemaState

    before = client.get(url(ds.customer.enterprise_no), **bearer(raw))
    schemas.record(ds, SchemaState(True, True, [Applied("0001"), Applied("0002")]))
    after = client.get(url(ds.customer.enterprise_no), **bearer(raw))
    assert after.json()["schema_version"] == "0002"
    assert after["ETag"] != before["ETag"]
    revalidated = client.get(
        url(ds.customer.enterprise_no), HTTP_IF_NONE_MATCH=after["ETag"], **bearer(raw)
    )
    assert revalidated.status_code == 304


def test_only_registry_tokens(client, client_for, raw, ds, devops, admin_user, machine):
    no = ds.customer.enterprise_no
    assert_error(client.get(url(no)), 401, "unauthenticated")
    for user in (devops, admin_user):  # a console session, however privileged
        assert_error(client_for(user).get(url(no)), 401, "unauthenticated")
    api_token = make_token(admin_user, scopes=(ApiToken.SCOPE_API,))
    assert_error(client.get(url(no), **bearer(api_token)), 403, "forbidden")
    assert_error(client.get(url(no), **bearer("hgj_not-a-token")), 401)
    both = make_token(machine, scopes=(ApiToken.SCOPE_API, ApiToken.SCOPE_REGISTRY))
    assert client.get(url(no), **bearer(both)).status_code == 200
    # Registry tokens do not open the console API.
    assert_error(client.get(f"{API}/customers", **bearer(raw)), 403, "forbidden")


def test_revoked_or_expired_tokens_stop(client, raw, ds, settings):
    settings.REGISTRY_TOKEN_CACHE_SECONDS = 0
    no = ds.customer.enterprise_no
    assert client.get(url(no), **bearer(raw)).status_code == 200
    ApiToken.objects.update(revoked_at=timezone.now())
    assert_error(client.get(url(no), **bearer(raw)), 401)
    ApiToken.objects.update(revoked_at=None, expires_at=timezone.now())
    assert_error(client.get(url(no), **bearer(raw)), 401)


def test_token_cache_keeps_a_token_for_its_ttl_only(client, raw, ds, settings):
    settings.REGISTRY_TOKEN_CACHE_SECONDS = 60
    no = ds.customer.enterprise_no
    assert client.get(url(no), **bearer(raw)).status_code == 200
    ApiToken.objects.update(revoked_at=timezone.now())
    # Documented: a revoked registry token works in a process until its cache entry ends.
    assert client.get(url(no), **bearer(raw)).status_code == 200
    registry_auth.clear_cache()
    assert_error(client.get(url(no), **bearer(raw)), 401)


def test_unknown_tenant_and_tenant_without_data_source(client, raw, ops, machine):
    customer = make_customer(actor=ops, complete=True)
    for no in ("HGJ999999", customer.enterprise_no, "x" * 30):
        body = assert_error(client.get(url(no), **bearer(raw)), 404, "tenant_not_found")
        assert "未找到该租户" in body["message"]
    tally.flush()
    rows = ReadTally.objects.filter(action="registry_read")
    assert sorted(rows.values_list("object_key", "count", "missing")) == sorted(
        [("HGJ999999", 1, 1), (customer.enterprise_no, 1, 1), ("X" * 30, 1, 1)]
    )
    assert {r.actor_id for r in rows} == {machine.pk}
    assert not AuditLog.objects.filter(action="registry_read").exists()


def test_etag_revalidation(client, raw, ds, devops):
    no = ds.customer.enterprise_no
    first = client.get(url(no), **bearer(raw))
    etag = first["ETag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = client.get(url(no), HTTP_IF_NONE_MATCH=header, **bearer(raw))
        assert again.status_code == 304, header
        assert again.content == b"" and again["ETag"] == etag
        assert again["Cache-Control"] == "no-store, private"
    stale = client.get(url(no), HTTP_IF_NONE_MATCH='"something-else"', **bearer(raw))
    assert stale.status_code == 200 and stale.json()["datasource"]["password"] == PASSWORD

    # What the business system acts on changes the tag: 实施状态, status, modules.
    from apps.datasources.services import datasource_advance

    datasource_advance(actor=devops, datasource=ds, to_status=1)
    moved = client.get(url(no), HTTP_IF_NONE_MATCH=etag, **bearer(raw))
    assert moved.status_code == 200 and moved["ETag"] != etag
    assert moved.json()["datasource"]["impl_status"] == "in_progress"
    Customer.objects.filter(pk=ds.customer_id).update(modules=["property"])
    modules = client.get(url(no), HTTP_IF_NONE_MATCH=moved["ETag"], **bearer(raw))
    assert modules.status_code == 200 and modules.json()["modules"] == ["property"]


def test_etag_is_not_a_hash_of_the_password(client, raw, ds):
    response = client.get(url(ds.customer.enterprise_no), **bearer(raw))
    body = response.json()
    for variant in (body, {k: v for k, v in body.items()}):
        text = json.dumps(variant, sort_keys=True, ensure_ascii=False).encode()
        assert hashlib.sha256(text).hexdigest()[:40] not in response["ETag"]
    assert PASSWORD not in response["ETag"]


def test_reads_are_counted_per_token_and_tenant_without_the_secret(client, raw, ds, machine):
    no = ds.customer.enterprise_no
    etag = client.get(url(no), **bearer(raw))["ETag"]
    client.get(url(no.lower()), HTTP_IF_NONE_MATCH=etag, **bearer(raw))
    other = make_token(machine, scopes=(ApiToken.SCOPE_REGISTRY,))
    ApiToken.objects.filter(prefix=other[:8]).update(name="备用令牌")
    client.get(url(no), **bearer(other))
    assert not ReadTally.objects.exists()  # counted in the process, written in a batch
    assert tally.flush() == 2
    row = ReadTally.objects.get(action="registry_read", source_label="测试令牌")
    assert (row.object_key, row.object_repr) == (no, ds.customer.name)
    assert (row.count, row.unchanged, row.missing) == (2, 1, 0)
    assert row.actor_id == machine.pk and row.first_at <= row.last_at
    second = ReadTally.objects.get(source_label="备用令牌")
    assert (second.object_key, second.count) == (no, 1)
    stored = json.dumps(list(ReadTally.objects.values()), ensure_ascii=False, default=str)
    assert PASSWORD not in stored and ds.password_encrypted not in stored
    # Counts from several writes (other processes, later batches) add up.
    client.get(url(no), **bearer(raw))
    tally.flush()
    row.refresh_from_db()
    assert (row.count, row.unchanged) == (3, 1) and row.last_at >= second.first_at
    assert not AuditLog.objects.filter(action="registry_read").exists()


def test_query_count(client, raw, ds, settings):
    settings.REGISTRY_TOKEN_CACHE_SECONDS = 60
    no = ds.customer.enterprise_no
    with CaptureQueriesContext(connection) as cold:
        etag = client.get(url(no), **bearer(raw))["ETag"]
    with CaptureQueriesContext(connection) as warm:
        assert client.get(url(no), **bearer(raw)).status_code == 200
    with CaptureQueriesContext(connection) as revalidate:
        assert client.get(url(no), HTTP_IF_NONE_MATCH=etag, **bearer(raw)).status_code == 304

    def kinds(queries):
        return [q["sql"].split()[0].upper() for q in queries.captured_queries]

    # Token (+ its last-used stamp the first time) and the entry; reads are counted in
    # the process and written in batches, not per read.
    assert len(cold) <= 3
    assert kinds(warm) == ["SELECT"] and kinds(revalidate) == ["SELECT"]
    everything = " ".join(q["sql"] for q in cold.captured_queries + warm.captured_queries)
    assert "auth_group" not in everything and "auth_permission" not in everything
    settings.REGISTRY_TOKEN_CACHE_SECONDS = 0
    with CaptureQueriesContext(connection) as uncached:
        client.get(url(no), **bearer(raw))
    assert kinds(uncached) == ["SELECT", "SELECT"]
    if connection.vendor == "postgresql":  # planned once per connection, not per read
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            prepared = [row[0] for row in cursor.fetchall()]
        assert any("datasources_datasource" in sql for sql in prepared), prepared


def test_status_of_an_open_customer(client, raw, ds, ops):
    Customer.objects.filter(pk=ds.customer_id).update(status=Customer.Status.OPEN)
    DataSource.objects.filter(pk=ds.pk).update(impl_status=2)
    body = client.get(url(ds.customer.enterprise_no), **bearer(raw)).json()
    assert body["status"] == "open" and body["datasource"]["impl_status"] == "online"


def test_reads_are_listed_in_the_audit_log(client, client_for, raw, ds, admin_user, devops, ops):
    client.get(url(ds.customer.enterprise_no), **bearer(raw))
    client.get(url("HGJ000000"), **bearer(raw))
    client.get(f"{API}/registry/tenants", **bearer(raw))
    assert "读取汇总" in client_for(admin_user).get("/audit/").content.decode()
    page = client_for(admin_user).get("/audit/reads/")  # this process's counts written first
    body = page.content.decode()
    assert page.status_code == 200
    assert "读取租户注册表" in body and ds.customer.enterprise_no in body
    assert ds.customer.name in body and "测试令牌" in body and "业务系统" in body
    assert "HGJ000000" in body and "全部租户（列表）" in body
    assert PASSWORD not in body and ds.password_encrypted not in body
    found = client_for(admin_user).get("/audit/reads/?q=HGJ000000").content.decode()
    assert "HGJ000000" in found and ds.customer.name not in found
    for outsider in (ops, devops):  # they read no audit log at all
        assert client_for(outsider).get("/audit/reads/").status_code == 403
