"""The tenant password appears in exactly one place: the registry's answer to a registry
token. Configure a data source with a distinctive password on the real MariaDB, then render
every page and API response that touches it — as every role — and look for the password and
its stored (encrypted) form in each, in the logs, the audit table and the provisioning runs."""

from __future__ import annotations

import io
import json
import logging
import secrets

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook
from psycopg import sql

from apps.accounts.models import ApiToken
from apps.accounts.tests.factories import make_staff, make_token
from apps.api.auth import registry_auth
from apps.api.tests.helpers import API, bearer, call
from apps.audit.models import AuditLog, ReadTally
from apps.customers.tests.factories import make_customer
from apps.datasources.models import DataSource, ProvisioningRun
from apps.datasources.provisioning import run_queued
from tests.tenant_fixtures import PG_PASSWORD_GROUP, PREFIX, RUN

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
WRONG = "Wrong#Pass2026"


@pytest.fixture(params=["mysql", "postgresql"])
def leaky_account(request, tenant_settings):
    """A least-privilege account whose password is like no other string here, on the real
    MariaDB or PostgreSQL."""
    name = f"hgjl_{RUN}"
    password = f"Lk#{secrets.token_hex(8)}Q7"
    if request.param == "mysql":
        admin = request.getfixturevalue("mysql_admin")
        pattern = PREFIX.replace("_", "\\_") + "%"
        admin.execute(f"CREATE USER '{name}'@'%%' IDENTIFIED BY %s", [password])
        admin.execute(f"GRANT ALL PRIVILEGES ON `{pattern}`.* TO '{name}'@'%'")
        drop = f"DROP USER IF EXISTS '{name}'@'%'"
        port = 3306
    else:
        admin = request.getfixturevalue("pg_admin")
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {} IN ROLE {}").format(
                sql.Identifier(name), sql.Literal(password), sql.Identifier(PG_PASSWORD_GROUP)
            )
        )
        drop = sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name))
        port = 5432
    yield {
        "host": "127.0.0.1",
        "port": port,
        "db_type": request.param,
        "username": name,
        "password": password,
        "max_connections": 10,
        "min_connections": 2,
        "remarks": "泄露检查",
    }
    admin.drop_run_databases()
    admin.execute(drop)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def xlsx_text(content: bytes) -> str:
    book = load_workbook(io.BytesIO(content), read_only=True)
    return "\n".join(
        str(cell)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for cell in row
        if cell is not None
    )


def test_the_password_appears_only_in_the_registry_answer(
    leaky_account, ops, manager, devops, admin_user, caplog
):
    registry_auth.clear_cache()
    caplog.set_level(logging.DEBUG)
    password = leaky_account["password"]
    customer = make_customer(actor=ops, complete=True)
    machine = make_staff("bizsys_leak", None, name="业务系统")
    registry_token = make_token(machine, scopes=(ApiToken.SCOPE_REGISTRY,))
    pk = customer.pk
    seen: dict[str, str] = {}

    def keep(label: str, response) -> None:
        assert response.status_code < 500, (label, response.status_code)
        content = response.getvalue()
        if response.get("Content-Type", "").startswith("application/vnd.openxmlformats"):
            seen[label] = xlsx_text(content)
        else:
            seen[label] = content.decode()

    console, api = signed_in(devops), signed_in(devops)
    u = lambda name: reverse(f"datasources:{name}", args=[pk])  # noqa: E731

    # Devops works through the console: failed attempts first, then the real one.
    keep("configure form", console.get(u("configure"), **HX))
    keep("configure page", console.get(u("configure")))
    keep("check (ok)", console.post(u("check"), leaky_account, **HX))
    keep("check (invalid)", console.post(u("check"), {**leaky_account, "port": "x"}, **HX))
    keep(
        "configure (invalid)",
        console.post(u("configure"), {**leaky_account, "min_connections": "99"}, **HX),
    )
    keep(
        "configure (wrong password)",
        console.post(u("configure"), {**leaky_account, "password": WRONG}, **HX),
    )
    failed = run_queued(ProvisioningRun.objects.get(customer=customer).pk)  # the worker's part
    run_url = reverse("datasources:run", args=[pk, failed.pk])
    keep("run (failed)", console.get(run_url, **HX))
    keep("run page (failed)", console.get(run_url))
    keep("cleanup modal", console.get(reverse("datasources:cleanup", args=[pk, failed.pk]), **HX))
    keep("refill form", console.get(u("configure") + f"?from={failed.pk}", **HX))
    keep("retry", console.post(reverse("datasources:retry", args=[pk, failed.pk]), **HX))
    keep("run (retry queued)", console.get(run_url, **HX))
    keep("panel (run queued)", console.get(u("panel"), **HX))
    run_queued(failed.pk)
    keep("api run (failed)", api.get(f"{API}/customers/{pk}/datasource/runs/{failed.pk}"))
    keep("configure (ok)", console.post(u("configure"), leaky_account, **HX))
    run_queued(ProvisioningRun.objects.filter(customer=customer).latest("pk").pk)
    ds = DataSource.objects.get(customer=customer)
    encrypted = ds.password_encrypted
    keep("configure again", console.post(u("configure"), leaky_account, **HX))
    keep("probe", console.get(u("probe"), **HX))
    keep("status modal", console.get(u("status"), **HX))
    keep("delete modal", console.get(u("delete"), **HX))
    keep("delete (wrong name)", console.post(u("delete"), {"confirm_name": "x"}, **HX))

    # The API, for the same operations.
    body = {k: v for k, v in leaky_account.items()}
    keep("api check", call(api, "post", f"{API}/customers/{pk}/datasource/check", body))
    keep("api configure (exists)", call(api, "post", f"{API}/customers/{pk}/datasource", body))
    keep("api probe", api.get(f"{API}/customers/{pk}/datasource/probe"))
    keep(
        "api status",
        call(api, "post", f"{API}/customers/{pk}/datasource/status", {"to": "in_progress"}),
    )
    keep(
        "api delete (in use)",
        call(api, "delete", f"{API}/customers/{pk}/datasource", {"confirm_name": ds.name}),
    )
    keep("api runs", api.get(f"{API}/customers/{pk}/datasource/runs"))
    other = make_customer(actor=ops, complete=True)
    keep(
        "api configure (wrong password)",
        call(
            api,
            "post",
            f"{API}/customers/{other.pk}/datasource",
            {**body, "password": WRONG},
        ),
    )
    other_run = run_queued(ProvisioningRun.objects.get(customer=other).pk)
    keep("api run (other)", api.get(f"{API}/customers/{other.pk}/datasource/runs/{other_run.pk}"))

    # Every role's view of the customer, the panel, the lists and the logs.
    for role, user in {
        "ops": ops,
        "manager": manager,
        "devops": devops,
        "admin": admin_user,
    }.items():
        client = signed_in(user)
        keep(f"customer detail ({role})", client.get(reverse("customers:detail", args=[pk])))
        keep(f"panel ({role})", client.get(u("panel"), **HX))
        keep(f"api datasource ({role})", client.get(f"{API}/customers/{pk}/datasource"))
        keep(f"customer list ({role})", client.get(reverse("customers:list")))
        keep(f"dashboard ({role})", client.get(reverse("console:dashboard")))
    admin = signed_in(admin_user)
    keep("audit list", admin.get(reverse("audit:list")))
    keep("audit list (data sources)", admin.get(reverse("audit:list") + "?q=DS-"))
    keep("audit export", admin.get(reverse("audit:export")))
    keep("api customer", admin.get(f"{API}/customers/{pk}"))

    # The registry: the one place the password travels.
    registry = Client().get(
        f"{API}/registry/tenants/{customer.enterprise_no}", **bearer(registry_token)
    )
    assert registry.status_code == 200
    assert json.loads(registry.content)["datasource"]["password"] == password
    revalidated = Client().get(
        f"{API}/registry/tenants/{customer.enterprise_no}",
        HTTP_IF_NONE_MATCH=registry["ETag"],
        **bearer(registry_token),
    )
    assert revalidated.status_code == 304
    keep("registry 304", revalidated)
    seen["registry headers"] = json.dumps(dict(registry.headers), ensure_ascii=False)
    keep("audit read tallies", admin.get(reverse("audit:reads")))

    # The pages did show what they should (so the checks below look at real pages).
    assert "检测通过" in seen["check (ok)"]
    assert "检测连接」失败" in seen["run (failed)"]
    assert "检测连接」失败" in json.loads(seen["api run (other)"])["message"]
    assert ds.name in seen["customer detail (devops)"]
    assert "未实施" in seen["customer detail (ops)"] or "实施中" in seen["customer detail (ops)"]
    assert "配置数据源" in seen["audit list"]
    assert ds.name in seen["audit export"]
    assert leaky_account["username"] in seen["customer detail (admin)"]
    for role in ("ops", "manager"):
        assert leaky_account["username"] not in seen[f"customer detail ({role})"]
        assert leaky_account["username"] not in seen[f"api datasource ({role})"]
        assert f"127.0.0.1:{leaky_account['port']}" not in seen[f"customer detail ({role})"]

    stored = {
        "read tallies": json.dumps(
            list(ReadTally.objects.values()), cls=DjangoJSONEncoder, ensure_ascii=False
        ),
        "audit rows": json.dumps(
            list(AuditLog.objects.values()), cls=DjangoJSONEncoder, ensure_ascii=False
        ),
        "provisioning runs": json.dumps(
            list(ProvisioningRun.objects.values()), cls=DjangoJSONEncoder, ensure_ascii=False
        ),
        "logs": "\n".join(
            [caplog.text]
            + [r.getMessage() for r in caplog.records]
            + [str(r.args) for r in caplog.records]
        ),
    }
    assert ReadTally.objects.get(action="registry_read").count == 2
    assert ProvisioningRun.objects.count() >= 3
    assert len(seen) >= 40
    for secret, label in ((password, "password"), (encrypted, "encrypted password")):
        for where, text in {**seen, **stored}.items():
            assert secret not in text, f"{label} found in {where}"
    for where, text in {**seen, **stored}.items():
        assert WRONG not in text, f"typed wrong password found in {where}"
