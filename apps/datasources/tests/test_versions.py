"""Versioned tenant schemas against the real MariaDB and PostgreSQL: the files as ordered
migrations with checksums, the schema_version table the platform keeps in each tenant
database, adopting a database provisioned before versioning, and drift."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.customers.tests.factories import make_customer
from apps.datasources import tenantdb
from apps.datasources.services import datasource_configure
from apps.datasources.tenantdb.versions import Applied, SchemaState, checksum, compare

pytestmark = pytest.mark.django_db


@pytest.fixture
def migration_dir(tmp_path, settings, db_type):
    """Three migrations of this server type; returns their folder."""
    return write_migrations(tmp_path, settings, db_type)


@pytest.fixture
def mysql_migrations(tmp_path, settings):
    """The same three, for MySQL only (tests of records, with no server behind them)."""
    return write_migrations(tmp_path, settings, "mysql")


def write_migrations(tmp_path, settings, db_type):
    folder = tmp_path / "migrations" / db_type
    folder.mkdir(parents=True)
    (folder / "0001_schema_version.sql").write_text("-- the platform's table\n")
    (folder / "0002_communities.sql").write_text("CREATE TABLE communities (id int PRIMARY KEY);\n")
    (folder / "0003_buildings.sql").write_text(
        "CREATE TABLE buildings (id int PRIMARY KEY);\n"
        "CREATE INDEX idx_buildings_id ON buildings (id);\n"
    )
    settings.TENANT_BASELINE_DIR = str(tmp_path / "migrations")
    return folder


def connector_of(ds) -> tenantdb.Connector:
    return tenantdb.connector_for(tenantdb.Target.of(ds))


def test_files_are_ordered_versions_with_checksums(migration_dir, db_type):
    files = tenantdb.migrations(db_type)
    assert [(m.version, m.name) for m in files] == [
        ("0001", "schema_version"),
        ("0002", "communities"),
        ("0003", "buildings"),
    ]
    assert files[2].checksum == checksum((migration_dir / "0003_buildings.sql").read_text())
    assert len(files[2].statements) == 2 and files[0].statements == []
    assert tenantdb.latest_version(db_type) == "0003"
    # Line endings do not change a checksum; anything else does.
    assert checksum("a;\r\nb;\r\n") == checksum("a;\nb;\n") != checksum("a;\nb; \n")


def test_misnamed_or_duplicate_files_are_refused(migration_dir, db_type):
    (migration_dir / "4_bad.sql").write_text("SELECT 1;\n")
    with pytest.raises(ImproperlyConfigured, match=r"NNNN_name\.sql"):
        tenantdb.migrations(db_type)
    (migration_dir / "4_bad.sql").unlink()
    (migration_dir / "0003_again.sql").write_text("SELECT 1;\n")
    with pytest.raises(ImproperlyConfigured, match="version 0003 already used"):
        tenantdb.migrations(db_type)


def test_a_new_tenant_records_every_version_with_its_checksum(
    migration_dir, tenant, devops, ops, db_type
):
    account, admin = tenant
    ds = datasource_configure(
        actor=devops, customer=make_customer(actor=ops, complete=True), data=account.data()
    )
    files = tenantdb.migrations(db_type)
    with connector_of(ds) as c:
        state = c.schema_state(ds.database)
    assert state.has_table and state.has_checksums and state.adopted
    assert [(a.version, a.checksum) for a in state.applied] == [
        (m.version, m.checksum) for m in files
    ]
    comparison = compare(state, files)
    assert comparison.current == "0003" and not comparison.behind and not comparison.drifted
    assert admin.tables(ds.database) == ["buildings", "communities", "schema_version"]


def test_a_database_from_before_versioning_is_adopted_at_its_baseline(
    migration_dir, tenant, devops, ops, db_type
):
    """A database configured by the old baseline files, whose schema_version had no
    checksums (versions 0001 and 0002): read as at 0002 and not drifted; adopting fills in
    the checksums, once, and only 0003 is pending."""
    account, _admin = tenant
    later = migration_dir / "0003_buildings.sql"
    later.rename(migration_dir.parent / "later.sql")
    ds = datasource_configure(
        actor=devops, customer=make_customer(actor=ops, complete=True), data=account.data()
    )
    (migration_dir.parent / "later.sql").rename(later)
    files = tenantdb.migrations(db_type)
    with connector_of(ds) as c:
        # Back to the table the old files created (as the tenant account, its owner).
        c.run_script(
            ds.database,
            [
                ("old", 1, "DROP TABLE schema_version"),
                ("old", 2, "CREATE TABLE schema_version (version varchar(32) PRIMARY KEY)"),
                ("old", 3, "INSERT INTO schema_version (version) VALUES ('0001'), ('0002')"),
            ],
        )
        state = c.schema_state(ds.database)
        assert state.has_table and not state.has_checksums and not state.adopted
        comparison = compare(state, files)
        assert comparison.current == "0002" and not comparison.drifted
        assert [m.version for m in comparison.pending] == ["0003"]

        assert c.adopt(ds.database, files) == 2
        state = c.schema_state(ds.database)
        assert state.adopted
        assert [a.checksum for a in state.applied] == [m.checksum for m in files[:2]]
        assert c.adopt(ds.database, files) == 0  # once
        c.apply_migration(ds.database, files[2])
        comparison = compare(c.schema_state(ds.database), files)
    assert comparison.current == "0003" and not comparison.behind


def test_drift_is_reported_never_fixed(migration_dir, tenant, devops, ops, db_type):
    account, _admin = tenant
    ds = datasource_configure(
        actor=devops, customer=make_customer(actor=ops, complete=True), data=account.data()
    )
    (migration_dir / "0002_communities.sql").write_text(
        "CREATE TABLE communities (id bigint PRIMARY KEY);\n"
    )
    files = tenantdb.migrations(db_type)
    with connector_of(ds) as c:
        before = c.schema_state(ds.database)
        comparison = compare(before, files)
        assert comparison.drift == [
            "版本 0002（communities）的校验和与迁移文件不一致：应用后文件被修改过"
        ]
        assert c.adopt(ds.database, files) == 0  # adoption never rewrites a checksum
        assert c.schema_state(ds.database).applied == before.applied


def test_compare_reports_unknown_versions_and_gaps():
    files = [
        tenantdb.Migration(v, n, None, f"sum{v}", "")
        for v, n in (("0001", "a"), ("0002", "b"), ("0003", "c"), ("0004", "d"))
    ]
    state = SchemaState(
        True,
        True,
        [Applied("0001", "sum0001"), Applied("0003", "sum0003"), Applied("0009", "x")],
    )
    comparison = compare(state, files)
    assert comparison.current == "0009"
    assert comparison.drift == [
        "已应用的版本 0009 没有对应的迁移文件",
        "版本 0002（b）未应用，但更高的版本 0009 已应用",
        "版本 0004（d）未应用，但更高的版本 0009 已应用",
    ]
    fresh = compare(SchemaState(), files, target="0002")
    assert [m.version for m in fresh.pending] == ["0001", "0002"] and fresh.target == "0002"
    assert fresh.current == "" and fresh.adopted and not fresh.drifted


# --- What the platform knows of each tenant's version ------------------------------------


HX = {"HTTP_HX_REQUEST": "true"}


def test_provisioning_records_the_version_and_the_probe_refreshes_it(
    migration_dir, tenant, devops, ops, db_type, client_for
):
    from django.urls import reverse

    from apps.datasources import schemas
    from apps.datasources.models import TenantSchema
    from apps.datasources.tasks import refresh_schemas

    account, _admin = tenant
    customer = make_customer(actor=ops, complete=True)
    ds = datasource_configure(actor=devops, customer=customer, data=account.data())
    row = TenantSchema.objects.get(datasource=ds)
    assert (row.version, row.drift, row.error) == ("0003", "", "") and row.checked_at
    view = schemas.schema_view(ds)
    assert view.state == "current" and view.state_label == "最新" and not view.behind

    # A new release adds 0004: the tenant is behind, as the panel shows after 检查版本.
    (migration_dir / "0004_parking.sql").write_text("CREATE TABLE parking (id int);\n")
    client = client_for(devops)
    panel = client.post(reverse("datasources:schema", args=[customer.pk]), **HX)
    html = panel.content.decode()
    assert panel.status_code == 200 and 'data-schema-state="behind"' in html
    assert "最新 0004" in html and ">0003<" in html
    # Someone edits an applied file: drift, shown with its cause.
    (migration_dir / "0002_communities.sql").write_text("CREATE TABLE communities (x int);\n")
    assert refresh_schemas.apply().result == {"checked": 1, "failed": 0}
    html = client.get(reverse("datasources:panel", args=[customer.pk]), **HX).content.decode()
    assert 'data-schema-state="drift"' in html and "校验和与迁移文件不一致" in html
    # 运营 see none of it.
    ops_html = client_for(ops).get(reverse("customers:detail", args=[customer.pk])).content
    assert "表结构版本" not in ops_html.decode()


def test_a_tenant_that_cannot_be_read_keeps_its_version_with_the_error(
    mysql_migrations, devops, ops
):
    from apps.datasources import schemas
    from apps.datasources.tests.factories import make_datasource

    customer = make_customer(actor=ops, complete=True)
    ds = make_datasource(customer, actor=devops, host="127.0.0.1", port=1)
    schemas.record(ds, SchemaState(True, True, [Applied("0001", None), Applied("0002", None)]))
    assert schemas.refresh_all() == {"checked": 0, "failed": 1}
    view = schemas.schema_view(ds)
    assert view.version == "0002" and "连接被拒绝" in view.error and view.state == "behind"


def test_the_customer_list_filters_by_schema_state(client_for, devops, ops, mysql_migrations):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from apps.datasources import schemas
    from apps.datasources.tests.factories import make_datasource

    def tenant_at(name, versions, checksums=True):
        customer = make_customer(actor=ops, complete=True, name=name)
        ds = make_datasource(customer, actor=devops)
        files = {m.version: m.checksum for m in tenantdb.migrations("mysql")}
        applied = [Applied(v, files[v] if checksums else "other") for v in versions]
        schemas.record(ds, SchemaState(True, True, applied))
        return customer

    tenant_at("最新物业", ["0001", "0002", "0003"])
    tenant_at("落后物业", ["0001", "0002"])
    tenant_at("漂移物业", ["0001", "0002", "0003"], checksums=False)
    make_datasource(make_customer(actor=ops, complete=True, name="未查物业"), actor=devops)
    make_customer(actor=ops, complete=True, name="无库物业")
    client = client_for(devops)

    def names(value):
        html = client.get(reverse("customers:list") + f"?schema={value}", **HX).content.decode()
        return {
            n for n in ("最新物业", "落后物业", "漂移物业", "未查物业", "无库物业") if n in html
        }

    assert names("behind") == {"落后物业"}
    assert names("current") == {"最新物业"}
    assert names("drift") == {"漂移物业"}
    assert names("unknown") == {"未查物业"}
    assert len(names("")) == 5 and len(names("nonsense")) == 5
    page = client.get(reverse("customers:list")).content.decode()
    assert 'data-filter="schema"' in page and "落后于最新版本" in page
    # 运营 cannot use it (nor see it): the value is ignored.
    ops_page = client_for(ops).get(reverse("customers:list") + "?schema=behind").content.decode()
    assert 'data-filter="schema"' not in ops_page and "最新物业" in ops_page
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("customers:list") + "?schema=behind", **HX)
    assert len(queries) <= 12
