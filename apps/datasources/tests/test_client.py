"""RegistryClient against the live server: caching, ETag revalidation, errors, threads."""

import socket
import threading
import time

import pytest
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.tests.factories import make_staff, make_token
from apps.api.auth import registry_auth
from apps.audit import tally
from apps.audit.models import ReadTally
from apps.customers.tests.factories import make_customer
from apps.datasources.client import (
    RegistryAuthError,
    RegistryClient,
    RegistryUnavailable,
    TenantNotFound,
)
from apps.datasources.models import DataSource
from apps.datasources.tests.factories import make_datasource

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Tenant#2026pw"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    registry_auth.clear_cache()
    yield
    registry_auth.clear_cache()


@pytest.fixture
def world(db):
    ops = make_staff("c_ops", "ops")
    devops = make_staff("c_devops", "devops")
    machine = make_staff("c_bizsys", None, name="业务系统")
    ds = make_datasource(make_customer(actor=ops, complete=True), actor=devops, host="192.0.2.7")
    raw = make_token(machine, scopes=(ApiToken.SCOPE_REGISTRY,))
    return ds, raw


def reads() -> tuple[int, int]:
    """(reads, of which 304) counted for the registry so far."""
    tally.flush()
    rows = ReadTally.objects.filter(action="registry_read")
    return sum(r.count for r in rows), sum(r.unchanged for r in rows)


def test_fetch_cache_and_revalidate(live_server, world):
    ds, raw = world
    clock = Clock()
    client = RegistryClient(live_server.url, raw, ttl=30, clock=clock)
    no = ds.customer.enterprise_no

    tenant = client.tenant(no)
    assert tenant["enterprise_no"] == no
    assert tenant["datasource"]["password"] == PASSWORD
    assert tenant["datasource"]["host"] == "192.0.2.7"
    tenant["datasource"]["host"] = "changed by the caller"
    assert client.tenant(no.lower())["datasource"]["host"] == "192.0.2.7"  # a copy, cached
    assert client.requests_sent == 1 and reads() == (1, 0)

    clock.now += 31  # past the TTL: revalidate, the server answers 304
    assert client.tenant(no)["datasource"]["password"] == PASSWORD
    assert client.requests_sent == 2
    assert reads() == (2, 1)
    clock.now += 10
    client.tenant(no)
    assert client.requests_sent == 2

    DataSource.objects.filter(pk=ds.pk).update(impl_status=1)
    clock.now += 30
    assert client.tenant(no)["datasource"]["impl_status"] == "in_progress"
    assert client.requests_sent == 3 and reads() == (3, 1)


def test_errors(live_server, world, ops):
    ds, raw = world
    client = RegistryClient(live_server.url, raw)
    with pytest.raises(TenantNotFound):
        client.tenant("HGJ999999")
    with pytest.raises(TenantNotFound):
        client.tenant(make_customer(actor=ops).enterprise_no)  # no data source
    with pytest.raises(TenantNotFound):
        client.tenant("  ")
    api_token = make_token(ds.configured_by, scopes=(ApiToken.SCOPE_API,))
    for token in (api_token, "hgj_wrong"):
        with pytest.raises(RegistryAuthError) as exc:
            RegistryClient(live_server.url, token).tenant(ds.customer.enterprise_no)
        assert token not in str(exc.value)
    with pytest.raises(ValueError):
        RegistryClient("ftp://x", raw)
    assert raw not in repr(client)


def test_unreachable_and_hanging_servers(world):
    _ds, raw = world
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    with pytest.raises(RegistryUnavailable) as exc:
        RegistryClient(f"http://127.0.0.1:{port}", raw, timeout=1).tenant("HGJ100001")
    assert raw not in str(exc.value)

    silent = socket.socket()  # accepts connections (backlog) but never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        started = time.monotonic()
        with pytest.raises(RegistryUnavailable):
            RegistryClient(f"http://127.0.0.1:{silent.getsockname()[1]}", raw, timeout=0.5).tenant(
                "HGJ100001"
            )
        assert time.monotonic() - started < 3
    finally:
        silent.close()


def test_stale_if_error(live_server, world):
    ds, raw = world
    no = ds.customer.enterprise_no
    clock = Clock()
    strict = RegistryClient(live_server.url, raw, ttl=5, clock=clock)
    lenient = RegistryClient(live_server.url, raw, ttl=5, stale_if_error=60, clock=clock)
    strict.tenant(no)
    lenient.tenant(no)
    dead = "http://127.0.0.1:1"
    strict.base_url = lenient.base_url = dead
    clock.now += 10
    with pytest.raises(RegistryUnavailable):
        strict.tenant(no)
    assert lenient.tenant(no)["datasource"]["password"] == PASSWORD
    clock.now += 60
    with pytest.raises(RegistryUnavailable):
        lenient.tenant(no)


def test_threads_share_one_request(live_server, world):
    ds, raw = world
    client = RegistryClient(live_server.url, raw)
    results, errors = [], []
    barrier = threading.Barrier(8)

    def work():
        try:
            barrier.wait()
            results.append(client.tenant(ds.customer.enterprise_no)["datasource"]["name"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == [] and results == [ds.name] * 8
    assert client.requests_sent == 1


def test_sync_keeps_a_map_of_every_tenant_current(live_server, world):
    ds, raw = world
    ops = make_staff("s_ops", "ops")
    devops = ds.configured_by
    others = [make_datasource(make_customer(actor=ops), actor=devops) for _ in range(4)]
    make_customer(actor=ops)  # no data source: not in the registry
    client = RegistryClient(live_server.url, raw, page_size=2)

    first = client.sync()
    assert (first.full, first.changed, first.removed, first.total) == (True, 5, 0, 5)
    assert client.requests_sent == 3  # five tenants, two per page
    tenants = client.tenants()
    assert set(tenants) == {d.customer.enterprise_no for d in [ds, *others]}
    mine = tenants[ds.customer.enterprise_no]
    assert mine["datasource"]["password"] == PASSWORD and "etag" not in mine
    # The synced tenants fill the per-tenant cache: no request for them.
    assert client.tenant(others[0].customer.enterprise_no)["name"] == others[0].customer.name
    assert client.requests_sent == 3

    # Nothing changed: one request, then one 304.
    assert client.sync().changed == 0 and client.requests_sent == 4
    assert client.sync().changed == 0 and client.requests_sent == 5
    assert reads_of_the_feed() == (5, 1)

    # A change, a newcomer and a removal: three items, two pages.
    DataSource.objects.filter(pk=others[1].pk).update(impl_status=1)
    from apps.customers.services import registry_changed

    registry_changed([others[1].customer_id])
    newcomer = make_datasource(make_customer(actor=ops), actor=devops)
    DataSource.objects.filter(pk=others[2].pk).delete()
    registry_changed([others[2].customer_id])
    result = client.sync()
    assert (result.full, result.changed, result.removed, result.total) == (False, 2, 1, 5)
    assert client.requests_sent == 7
    tenants = client.tenants()
    assert tenants[others[1].customer.enterprise_no]["datasource"]["impl_status"] == "in_progress"
    assert newcomer.customer.enterprise_no in tenants
    assert others[2].customer.enterprise_no not in tenants
    with pytest.raises(TenantNotFound):
        client.tenant(others[2].customer.enterprise_no)  # asked again, and gone

    # A full sync rebuilds the map from scratch.
    again = client.sync(full=True)
    assert again.full and again.total == 5 and again.removed == 0


def test_a_failed_sync_leaves_the_map_as_it_was(live_server, world):
    ds, raw = world
    client = RegistryClient(live_server.url, raw)
    client.sync()
    with pytest.raises(RegistryAuthError):
        RegistryClient(live_server.url, "hgj_wrong").sync()
    ApiToken.objects.update(revoked_at=timezone.now())
    registry_auth.clear_cache()
    with pytest.raises(RegistryAuthError):
        client.sync()
    assert list(client.tenants()) == [ds.customer.enterprise_no]
    closed = RegistryClient("http://127.0.0.1:1", raw, timeout=1)
    with pytest.raises(RegistryUnavailable):
        closed.sync()
    assert closed.tenants() == {}


def reads_of_the_feed() -> tuple[int, int]:
    tally.flush()
    row = ReadTally.objects.get(action="registry_read", object_key="*")
    return row.count, row.unchanged


def test_module_has_no_django_import():
    import ast
    from pathlib import Path

    import apps.datasources.client as module

    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    } | {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert imported <= {
        "__future__",
        "json",
        "threading",
        "time",
        "urllib",
        "dataclasses",
        "typing",
    }
