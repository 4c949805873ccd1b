"""Input rules of the data-source form, checked before anything touches a server."""

import pytest

from apps.audit.models import AuditLog
from apps.core.errors import Forbidden, ValidationFailed
from apps.customers.tests.factories import make_customer
from apps.datasources import validators
from apps.datasources.models import DataSource, ProvisioningRun
from apps.datasources.services import (
    allocate_names,
    clean_input,
    datasource_check,
    datasource_configure,
    names_for,
    peek_names,
)
from apps.datasources.tests.factories import make_datasource
from tests.tenant_fixtures import PREFIX, Account

pytestmark = pytest.mark.django_db

# A server nobody listens on: validation must refuse before any connection is tried.
NOWHERE = Account("mysql", "tenant_app", "Tenant#2026pw", host="127.0.0.1", port=1)


def refused(actor, customer, **overrides) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as exc:
        datasource_configure(actor=actor, customer=customer, data=NOWHERE.data(**overrides))
    assert not DataSource.objects.filter(customer=customer).exists()
    assert not ProvisioningRun.objects.filter(customer=customer).exists()
    return exc.value


@pytest.mark.parametrize(
    "username",
    ["root", "ROOT", "Root", "postgres", "POSTGRES", "mysql", "mariadb.sys", "admin", "pg_monitor"],
)
def test_superuser_account_names_refused_in_any_case(devops, ops, username):
    customer = make_customer(actor=ops, complete=True)
    error = refused(devops, customer, username=username)
    assert set(error.fields) == {"username"}
    assert "不允许使用超级管理员或系统账号" in error.fields["username"][0]
    assert error.message.startswith("账号：")


@pytest.mark.parametrize(
    "password, missing",
    [
        ("tenant#2026pw", "大写字母"),
        ("Tenant#Password", "数字"),
        ("Tenant2026pw", "特殊字符"),
        ("Te#1", "至少 8 位"),
    ],
)
def test_weak_passwords_refused_naming_what_is_missing(devops, ops, password, missing):
    customer = make_customer(actor=ops, complete=True)
    error = refused(devops, customer, password=password)
    assert set(error.fields) == {"password"}
    text = error.fields["password"][0]
    assert "当前缺少" in text and missing in text
    assert password not in error.message and password not in text


def test_password_with_all_classes_passes_the_policy():
    validators.validate_password("Tenant#2026pw")
    assert validators.password_problems("tenant") == ["至少 8 位", "大写字母", "数字", "特殊字符"]


def test_password_required_and_no_spaces(devops, ops):
    customer = make_customer(actor=ops, complete=True)
    assert "请填写密码" in refused(devops, customer, password="").fields["password"][0]
    assert "空格" in refused(devops, customer, password="Tenant# 2026pw").fields["password"][0]


def test_min_greater_than_max_refused(devops, ops):
    customer = make_customer(actor=ops, complete=True)
    error = refused(devops, customer, min_connections=20, max_connections=10)
    assert error.fields == {"min_connections": ["最小连接数不能大于最大连接数"]}
    assert "最小连接数" in error.message


@pytest.mark.parametrize("field_name", ["max_connections", "min_connections"])
@pytest.mark.parametrize("value", [0, -1, "abc", ""])
def test_pool_sizes_must_be_positive_integers(devops, ops, field_name, value):
    customer = make_customer(actor=ops, complete=True)
    error = refused(devops, customer, **{field_name: value})
    assert field_name in error.fields


@pytest.mark.parametrize(
    "host, port, bad",
    [
        ("10.0.3.12:3306", 3306, "host"),
        ("", 3306, "host"),
        ("db_server", 3306, "host"),
        ("999.1.1.1", 3306, "host"),
        ("10.0.3.12", 0, "port"),
        ("10.0.3.12", 70000, "port"),
    ],
)
def test_host_and_port_format(devops, ops, host, port, bad):
    customer = make_customer(actor=ops, complete=True)
    assert bad in refused(devops, customer, host=host, port=port).fields


def test_host_accepts_ip_and_names():
    for host in ("10.0.3.12", "db-01.internal", "::1", "localhost"):
        validators.validate_host(host)


def test_unknown_type_and_generated_fields_refused(devops, ops):
    customer = make_customer(actor=ops, complete=True)
    assert "db_type" in refused(devops, customer, db_type="oracle").fields
    error = refused(devops, customer, name="DS-MINE", database="mine")
    assert set(error.fields) == {"name", "database"}
    assert "由系统生成" in error.message


def test_every_wrong_field_is_named_at_once(devops, ops):
    customer = make_customer(actor=ops, complete=True)
    error = refused(devops, customer, username="root", password="weak", min_connections=99)
    assert set(error.fields) == {"username", "password", "min_connections"}


def test_clean_input_normalises_and_defaults_to_mysql():
    data = NOWHERE.data(host=" DB-01.Internal ", username=" app ", port="3306")
    data.pop("db_type")
    ds, password = clean_input(data)
    assert (ds.host, ds.username, ds.port, ds.db_type) == ("db-01.internal", "app", 3306, "mysql")
    assert password == "Tenant#2026pw"


def test_only_devops_and_admin_may_check_or_configure(ops, manager, nobody, customer_for_ops):
    for user in (ops, manager, nobody):
        with pytest.raises(Forbidden):
            datasource_configure(actor=user, customer=customer_for_ops, data=NOWHERE.data())
        with pytest.raises(Forbidden):
            datasource_check(actor=user, customer=customer_for_ops, data=NOWHERE.data())
    assert not AuditLog.objects.filter(action__startswith="datasource_").exists()


def test_roles_hold_the_datasource_permissions(ops, manager, devops, admin_user):
    manage, view = "datasources.manage_datasource", "datasources.view_datasource"
    assert devops.has_perm(manage) and devops.has_perm(view)
    assert admin_user.has_perm(manage) and admin_user.has_perm(view)
    for user in (ops, manager):
        assert user.has_perm(view) and not user.has_perm(manage)


@pytest.fixture
def customer_for_ops(ops):
    return make_customer(actor=ops, complete=True)


def test_generated_names_follow_the_enterprise_number(ops, settings):
    customer = make_customer(actor=ops)
    number = customer.enterprise_no[len(settings.ENTERPRISE_NO_PREFIX) :]
    assert names_for(customer, 1) == (f"DS-{customer.enterprise_no}-1", f"{PREFIX}{number}_1")
    settings.TENANT_DB_PREFIX = "hgj"
    name, database = names_for(customer, 12)
    assert (name, database) == (f"DS-{customer.enterprise_no}-12", f"hgj{number}_12")
    assert len(database) <= 63 and database.replace("_", "").isalnum()


def test_names_are_never_reused(ops, devops):
    customer = make_customer(actor=ops)
    first = allocate_names(customer)
    second = allocate_names(customer)
    assert first != second
    assert peek_names(customer)[0].endswith("-3")
    # A name already held by a data source is skipped (tombstones: see test_lifecycle).
    make_datasource(customer, name=names_for(customer, 3)[0], database=names_for(customer, 3)[1])
    assert peek_names(customer) == names_for(customer, 4)
    assert allocate_names(customer) == names_for(customer, 4)
