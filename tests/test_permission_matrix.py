"""Every console page and every API operation × anonymous and each role.

The matrix below names each console route; a test fails when a route exists that the
matrix does not cover, so a new page cannot ship without its permission row. API
operations are read from the OpenAPI document, so a new endpoint is covered for
anonymous callers automatically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from apps.accounts.tests.factories import make_staff
from apps.contracts.services import contract_create
from apps.core import crypto
from apps.customers.packages import package_create
from apps.customers.services import customer_update
from apps.customers.tests.factories import make_customer
from apps.datasources.models import (
    CredentialRotation,
    ProvisioningRun,
    Relocation,
    RetiredDataSource,
    Rollout,
    TableClearing,
)
from apps.datasources.tests.factories import make_datasource
from apps.leads.models import PlacementRule
from apps.leads.services import lead_create_offline, qr_channel_create
from apps.notifications.models import Robot

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
ROLES = ("anon", "nobody", "ops", "ops_other", "manager", "devops", "admin")
VIEW = {"ops", "ops_other", "manager", "devops", "admin"}
WORK = {"ops", "ops_other", "manager", "admin"}  # ops roles and admin
ADMIN = {"admin"}
MANAGERS = {"manager", "admin"}
DATASOURCE = {"devops", "admin"}  # configure, check, status, delete, probe
SIGNED_IN = set(ROLES) - {"anon"}


@dataclass
class Route:
    name: str
    allowed: set[str]
    method: str = "get"
    args: str = (
        ""  # customer, ds_customer (has a data source), contract, staff, token, lead, qrchannel,
        # run (a customer's failed provisioning run)
    )
    query: str = ""
    data: dict = field(default_factory=dict)
    ok: tuple[int, ...] = (200,)
    scoped: bool = False  # object of "ops": another specialist gets 404


ROUTES = [
    Route("console:dashboard", SIGNED_IN),
    Route("core:cities", VIEW, query="province=440000"),
    Route("customers:list", VIEW),
    Route("customers:export", MANAGERS),
    Route("customers:create", WORK),
    Route("customers:assign", {"manager", "admin"}, "post", ok=(302,), data={"owner": ""}),
    Route("customers:detail", VIEW, args="customer", scoped=True),
    Route("customers:edit", WORK, args="customer", scoped=True),
    Route("customers:activate", WORK, args="customer", scoped=True),
    Route("customers:close", WORK, args="customer", scoped=True),
    Route("customers:trial", WORK, args="customer", scoped=True),
    Route("customers:extend_trial", MANAGERS, args="customer"),
    Route("customers:contract_gate", WORK, args="customer", scoped=True, ok=(302,)),
    Route("customers:license_scan", WORK, args="customer", scoped=True),
    Route("contracts:list", WORK),
    Route("contracts:create", WORK, query="customer={customer}", scoped=True),
    Route("contracts:detail", WORK, args="contract", scoped=True),
    Route("contracts:edit", WORK, args="contract", scoped=True),
    Route("contracts:status", WORK, args="contract", scoped=True),
    Route("contracts:scan", WORK, args="contract", scoped=True),
    Route("leads:list", WORK),
    Route("leads:export", MANAGERS),
    Route("leads:to_call", WORK),
    Route("leads:pool", WORK),
    Route("leads:create", WORK),
    Route("leads:assign", MANAGERS, "post", ok=(302,), data={"owner": ""}),
    Route("leads:detail", WORK, args="lead", scoped=True),
    Route("leads:edit", WORK, args="lead", scoped=True),
    Route("leads:claim", WORK, "post", args="lead", scoped=True, ok=(302,)),
    Route("leads:follow_up", WORK, args="lead", scoped=True),
    Route("leads:close", WORK, args="lead", scoped=True),
    Route("leads:reopen", WORK, "post", args="lead", scoped=True, ok=(302,)),
    Route("leads:convert", WORK, args="lead", scoped=True),
    Route("leads:qr_list", MANAGERS),
    Route("leads:qr_create", MANAGERS),
    Route("leads:qr_export", MANAGERS),
    Route("leads:qr_edit", MANAGERS, args="qrchannel"),
    Route("leads:qr_png", MANAGERS, args="qrchannel"),
    Route("leads:qr_svg", MANAGERS, args="qrchannel"),
    Route("customers:import", MANAGERS),
    Route("customers:merge", MANAGERS, args="customer"),
    Route("leads:merge", MANAGERS, args="lead"),
    Route("customers:import_template", MANAGERS),
    Route("leads:rules", MANAGERS),
    Route("leads:rule_create", MANAGERS),
    Route("leads:rule_edit", MANAGERS, args="rule"),
    # The manager deletes the rule; the admin after them finds it gone.
    Route("leads:rule_delete", MANAGERS, "post", args="rule", ok=(302, 404)),
    Route("datasources:panel", VIEW, args="customer", scoped=True),
    Route("datasources:configure", DATASOURCE, args="customer"),
    Route("datasources:check", DATASOURCE, "post", args="customer"),
    Route("datasources:status", DATASOURCE, args="ds_customer"),
    Route("datasources:delete", DATASOURCE, args="ds_customer"),
    Route("datasources:probe", DATASOURCE, args="ds_customer"),
    Route("datasources:schema", DATASOURCE, "post", args="ds_customer"),
    Route("fleet:list", DATASOURCE),
    Route("fleet:plan", DATASOURCE, query="target=0002"),
    Route("fleet:start", DATASOURCE, "post", data={"target": "0042"}, ok=(302,)),
    Route("fleet:detail", DATASOURCE, args="rollout"),
    Route("fleet:export", DATASOURCE, args="rollout"),
    Route("fleet:progress", DATASOURCE, args="rollout"),
    Route("fleet:pause", DATASOURCE, "post", args="rollout", ok=(302,)),
    Route("fleet:resume", DATASOURCE, "post", args="rollout", ok=(302,)),
    Route("fleet:retry", DATASOURCE, "post", args="rollout", ok=(302,)),
    Route("datasources:run", DATASOURCE, args="run"),
    Route("datasources:retry", DATASOURCE, "post", args="run"),
    Route("datasources:cleanup", DATASOURCE, args="run"),
    Route("datasources:clear", DATASOURCE, args="ds_customer"),
    Route("datasources:relocate", DATASOURCE, args="ds_customer"),
    Route("datasources:relocate_check", DATASOURCE, "post", args="ds_customer"),
    Route("datasources:relocation", DATASOURCE, args="relocation"),
    Route("datasources:retired_remove", DATASOURCE, args="retired"),
    Route("datasources:rotate", DATASOURCE, args="ds_customer"),
    Route("datasources:rotation", DATASOURCE, args="rotation"),
    Route("datasources:clearings", DATASOURCE, args="ds_customer"),
    Route("datasources:restore", DATASOURCE, args="clearing"),
    Route("audit:list", MANAGERS),
    Route("audit:export", MANAGERS),
    Route("audit:reads", ADMIN),  # 运营主管 lack the data-source permission registry reads need
    Route("contracts:export", MANAGERS),
    Route("leads:import", MANAGERS),
    Route("leads:import_template", MANAGERS),
    Route("notifications:preferences", SIGNED_IN),
    Route("console:inbox", SIGNED_IN),
    Route("console:inbox_count", SIGNED_IN),
    Route("notifications:robot_list", ADMIN),
    Route("notifications:robot_create", ADMIN),
    Route("notifications:robot_edit", ADMIN, args="robot"),
    Route("notifications:robot_test", ADMIN, "post", args="robot", ok=(302,)),
    Route("customers:package_list", WORK),
    Route("customers:package_create", MANAGERS),
    Route("customers:package_export", MANAGERS),
    Route(
        "customers:package_edit", MANAGERS, args="package"
    ),  # 运营主管 lack the data-source permission registry reads need
    Route("accounts:staff_list", ADMIN),
    Route("accounts:staff_create", ADMIN),
    Route("accounts:staff_export", ADMIN),
    Route("accounts:staff_edit", ADMIN, args="staff"),
    Route("accounts:staff_password", ADMIN, args="staff"),
    Route(
        "accounts:staff_set_active", ADMIN, "post", args="staff", data={"active": "1"}, ok=(302,)
    ),
    Route("accounts:staff_unlock", ADMIN, "post", args="staff", ok=(302,)),
    Route("accounts:staff_2fa_reset", ADMIN, "post", args="staff", ok=(302,)),
    Route("accounts:two_factor_setup", SIGNED_IN),
    Route("accounts:two_factor_verify", SIGNED_IN, ok=(302,)),  # no device yet: to setup
    Route("accounts:token_list", ADMIN),
    Route("accounts:token_issue", ADMIN),
    Route("accounts:token_export", ADMIN),
    Route("accounts:token_revoke", ADMIN, "post", args="token", ok=(302,)),
]
# Open to everyone (or handled by the login flow itself).
PUBLIC = {
    "core:healthz",
    "core:readyz",
    "core:metrics",  # restricted by network or token, not by login (apps/core/metrics.py)
    "accounts:login",
    "accounts:logout",
    "public:apply",
    "public:apply_done",
    "public:privacy",
}


def _route_names(resolver: URLResolver, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for p in resolver.url_patterns:
        if isinstance(p, URLResolver):
            ns = f"{prefix}{p.namespace}:" if p.namespace else prefix
            names |= _route_names(p, ns)
        elif isinstance(p, URLPattern) and p.name:
            names.add(prefix + p.name)
    return names


def test_every_console_route_is_in_the_matrix():
    console = {n for n in _route_names(get_resolver()) if not n.startswith("api:")}
    covered = {r.name for r in ROUTES} | PUBLIC
    assert console - covered == set(), "add these routes to the permission matrix"
    assert covered - console == set(), "the matrix names routes that do not exist"


@pytest.fixture
def world(db):
    from apps.accounts.services import token_issue

    users = {
        "nobody": make_staff("m_nobody", None),
        "ops": make_staff("m_ops", "ops"),
        "ops_other": make_staff("m_ops2", "ops"),
        "manager": make_staff("m_mgr", "ops_manager"),
        "devops": make_staff("m_devops", "devops"),
        "admin": make_staff("m_admin", "admin"),
    }
    customer = make_customer(actor=users["ops"], complete=True)
    scan = SimpleUploadedFile("l.png", PNG, content_type="image/png")
    customer = customer_update(actor=users["ops"], customer=customer, data={}, license_scan=scan)
    contract = contract_create(
        actor=users["ops"],
        customer=customer,
        data={
            "bank_name": "招商银行",
            "legal_representative": "李四",
            "account_no": "755912345610001",
            "start_date": "2026-01-01",
            "end_date": "2026-12-31",
            "communities": 2,
            "amount": "1000.00",
            "party_a_contact": "王经理",
            "party_a_phone": "13800138000",
            "party_b_contact": "小李",
            "party_b_phone": "0755-86001234",
        },
        scan=SimpleUploadedFile("c.pdf", b"%PDF-1.4 test", content_type="application/pdf"),
    )
    token, _raw = token_issue(
        actor=users["admin"], user=users["devops"], name="t", scopes=["api"], expires_at=None
    )
    lead = lead_create_offline(actor=users["ops"], name="矩阵", phone="13800138000")
    qr = qr_channel_create(actor=users["admin"], name="矩阵海报")
    # A closed local port: 检测数据 fails at once, without leaving the machine.
    ds_customer = make_customer(actor=users["ops"], complete=True)
    ds = make_datasource(ds_customer, actor=users["devops"], host="127.0.0.1", port=1)
    clearing = TableClearing.objects.create(
        customer=ds_customer, datasource=ds, name=ds.name, status=TableClearing.Status.CLEARED,
        tables=[{"table": "notes", "rows": 2, "backup": "hgj_bak_1_1", "cleared": 2}],
    )  # fmt: skip
    move = Relocation.objects.create(
        customer=ds_customer, source=ds, source_name=ds.name, name="DS-M-2", database="m_2",
        db_type="mysql", host="127.0.0.1", port=1, username="tenant_app", max_connections=2,
        min_connections=1, status=Relocation.Status.FAILED,
    )  # fmt: skip
    retired = RetiredDataSource.objects.create(
        customer=ds_customer, datasource_id=999, generation=1, name="DS-M-0", database="m_0",
        db_type="mysql", host="127.0.0.1", port=1, username="tenant_app", max_connections=2,
        min_connections=1, impl_status=2, configured_at=ds.configured_at, reason="relocation",
        replaced_by=ds, replaced_by_name=ds.name,
    )  # fmt: skip
    rot = CredentialRotation.objects.create(
        customer=ds_customer, source=ds, source_name=ds.name, name="DS-M-3",
        old_username="tenant_app", new_username="tenant_app_r2", admin_username="root",
        status=CredentialRotation.Status.FAILED,
    )  # fmt: skip
    run = ProvisioningRun.objects.create(
        customer=customer, name="DS-M-1", database="m_1", db_type="mysql", host="127.0.0.1",
        port=1, username="tenant_app", status=ProvisioningRun.Status.FAILED,
        secret_encrypted=crypto.encrypt("Secret#2026pw"), started_by=users["devops"],
    )  # fmt: skip
    rollout = Rollout.objects.create(target_version="0002", status=Rollout.Status.FINISHED)
    package = package_create(actor=users["admin"], data={"name": "矩阵版", "modules": ["property"]})
    rule = PlacementRule.objects.create(name="矩阵规则")
    robot = Robot.objects.create(
        name="矩阵群", kind="wecom", webhook_encrypted=crypto.encrypt("http://127.0.0.1:1/hook")
    )
    objects = {
        "robot": robot.pk,
        "rule": rule.pk,
        "package": package.pk,
        "rollout": rollout.pk,
        "run": (customer.pk, run.pk),
        "clearing": (ds_customer.pk, clearing.pk),
        "relocation": (ds_customer.pk, move.pk),
        "retired": (ds_customer.pk, retired.pk),
        "rotation": (ds_customer.pk, rot.pk),
        "customer": customer.pk,
        "ds_customer": ds_customer.pk,
        "contract": contract.pk,
        "staff": users["ops"].pk,
        "token": token.pk,
        "lead": lead.pk,
        "qrchannel": qr.pk,
    }
    return users, objects


def _call(route: Route, role: str, users, objects):
    client = Client()
    if role != "anon":
        client.force_login(users[role])
    value = objects[route.args] if route.args else ()
    args = list(value) if isinstance(value, tuple) else [value]
    url = reverse(route.name, args=args)
    if route.query:
        url += "?" + route.query.format(**objects)
    data = dict(route.data)
    if route.name == "customers:assign":
        data["ids"] = [objects["customer"]]
    if route.name == "leads:assign":
        data["ids"] = [objects["lead"]]
    return getattr(client, route.method)(url, data) if route.method == "post" else client.get(url)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_console_route_permissions(route: Route, world):
    users, objects = world
    for role in ROLES:
        response = _call(route, role, users, objects)
        status = response.status_code
        if role == "anon":
            assert status == 302 and "/accounts/login/" in response["Location"], (role, status)
        elif role in route.allowed:
            expected = (404,) if (route.scoped and role == "ops_other") else route.ok
            assert status in expected, (route.name, role, status)
        else:
            assert status == 403, (route.name, role, status)


def test_every_api_operation_refuses_anonymous_callers(client):
    schema = client.get("/api/v1/openapi.json").json()
    checked = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            url = path.replace("{id}", "1").replace("{enterprise_no}", "HGJ100001")
            public = path.startswith("/api/v1/public/")
            response = getattr(client, method)(url, content_type="application/json")
            if public:
                assert response.status_code != 401, (method, path)
            else:
                assert response.status_code == 401, (method, path, response.status_code)
                body = response.json()
                assert body["code"] == "unauthenticated" and body["message"]
            checked += 1
    assert checked >= 15
