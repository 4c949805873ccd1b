"""套餐: managers keep the catalogue (modules and limits), every change audited, input
refused in Chinese naming the field; specialists see it, only managers change it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.audit.models import AuditLog
from apps.core.errors import Forbidden, ValidationFailed
from apps.customers.models import Package
from apps.customers.packages import package_create, package_list, package_update

pytestmark = pytest.mark.django_db


def test_a_manager_creates_and_changes_a_package_audited(manager):
    package = package_create(
        actor=manager,
        data={"name": " 标准版 ", "modules": ["repair", "property"], "max_communities": 20},
    )
    assert package.name == "标准版" and package.modules == ["property", "repair"]
    assert package.max_accounts is None and package.max_communities == 20 and package.is_active
    created = AuditLog.objects.get(action="create", object_id=str(package.pk))
    assert created.changes["modules"] == [None, ["property", "repair"]]
    package_update(actor=manager, package=package, data={"max_accounts": 50, "is_active": False})
    package.refresh_from_db()
    assert package.max_accounts == 50 and not package.is_active
    updated = AuditLog.objects.get(action="update", object_id=str(package.pk))
    assert updated.changes == {"max_accounts": [None, 50], "is_active": [True, False]}


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"name": "", "modules": ["property"]}, "name", ""),
        ({"name": "空模块", "modules": []}, "modules", "请至少选择一个模块"),
        ({"name": "坏模块", "modules": ["nope"]}, "modules", "未知模块"),
        ({"name": "坏类型", "modules": "property"}, "modules", "请从列表中选择模块"),
        ({"name": "坏类型2", "modules": [1, 2]}, "modules", "请从列表中选择模块"),
        ({"name": "坏类型3", "modules": 7}, "modules", "请从列表中选择模块"),
        ({"name": "负数", "modules": ["property"], "max_accounts": -1}, "max_accounts", ""),
        ({"name": "控制\x07字符", "modules": ["property"]}, "name", ""),
        ({"name": "x" * 41, "modules": ["property"]}, "name", ""),
        ({"name": "未知字段", "modules": ["property"], "price": 1}, "price", "不可修改"),
    ],
)
def test_bad_input_is_refused_naming_the_field(manager, data, field, words):
    with pytest.raises(ValidationFailed) as exc:
        package_create(actor=manager, data=data)
    assert field in exc.value.fields, exc.value.fields
    assert words in exc.value.message + "".join(exc.value.fields[field])
    assert not Package.objects.exists()


def test_names_are_unique(manager):
    package_create(actor=manager, data={"name": "基础版", "modules": ["property"]})
    with pytest.raises(ValidationFailed) as exc:
        package_create(actor=manager, data={"name": "基础版", "modules": ["repair"]})
    assert exc.value.fields["name"] == ["已有同名套餐"]


def test_specialists_see_packages_and_only_managers_change_them(ops, devops, manager):
    package = package_create(actor=manager, data={"name": "基础版", "modules": ["property"]})
    assert list(package_list(user=ops)) == [package]
    with pytest.raises(Forbidden):
        package_create(actor=ops, data={"name": "私自", "modules": ["property"]})
    with pytest.raises(Forbidden):
        package_update(actor=ops, package=package, data={"is_active": False})
    with pytest.raises(Forbidden):
        package_list(user=devops)


def test_pages(client_for, manager, ops, django_assert_max_num_queries):
    client = client_for(manager)
    response = client.post(
        reverse("customers:package_create"),
        {"name": "旗舰版", "modules": ["property", "repair"], "max_accounts": "", "remarks": ""},
    )
    assert response.status_code == 302
    package = Package.objects.get(name="旗舰版")
    for i in range(5):
        package_create(actor=manager, data={"name": f"套餐{i}", "modules": ["property"]})
    with django_assert_max_num_queries(8):
        html = client.get(reverse("customers:package_list")).content.decode()
    assert "旗舰版" in html and "不限" in html and "编辑" in html
    menu = client.get(reverse("console:dashboard")).content.decode()
    assert reverse("customers:package_list") in menu
    bad = client.post(reverse("customers:package_edit", args=[package.pk]), {"name": "旗舰版"})
    assert bad.status_code == 200 and "请至少选择一个模块" in bad.content.decode()
    ops_html = client_for(ops).get(reverse("customers:package_list")).content.decode()
    assert "旗舰版" in ops_html and reverse("customers:package_edit", args=[package.pk]) not in (
        ops_html
    )
    assert client_for(ops).get(reverse("customers:package_create")).status_code == 403


# --- 开通 picks a package ------------------------------------------------------------------


@pytest.fixture
def ready(ops, devops):
    """A complete customer with a data source: ready to be opened."""
    from apps.customers.tests.factories import make_customer
    from apps.datasources.tests.factories import make_datasource

    customer = make_customer(actor=ops, complete=True)
    make_datasource(customer, actor=devops)
    return customer


def test_activation_with_a_package_gives_its_modules(ready, ops, manager):
    from apps.customers.services import customer_activate

    package = package_create(
        actor=manager, data={"name": "标准版", "modules": ["repair", "property"]}
    )
    customer = customer_activate(actor=ops, customer=ready, package=package.pk, modules=["x"])
    customer.refresh_from_db()
    assert customer.package == package and customer.modules == ["property", "repair"]
    row = AuditLog.objects.get(action="activate", object_id=str(customer.pk))
    assert row.changes["package"] == [None, package.pk]


def test_activation_refuses_a_package_switched_off_or_unknown(ready, ops, manager):
    from apps.customers.services import customer_activate

    old = package_create(actor=manager, data={"name": "旧版", "modules": ["property"]})
    package_update(actor=manager, package=old, data={"is_active": False})
    for value, words in ((old.pk, "已停用"), (10**20, "套餐不存在"), ("abc", "套餐不存在")):
        with pytest.raises(ValidationFailed) as exc:
            customer_activate(actor=ops, customer=ready, package=value)
        assert words in exc.value.fields["package"][0]
    ready.refresh_from_db()
    assert ready.status == ready.Status.NOT_OPENED


def test_activation_through_the_api_and_the_console(ready, ops, manager, client_for):
    from apps.api.tests.helpers import API, assert_error, call

    package = package_create(actor=manager, data={"name": "物业版", "modules": ["property"]})
    client = client_for(ops)
    modal = client.get(reverse("customers:activate", args=[ready.pk]), HTTP_HX_REQUEST="true")
    assert "物业版" in modal.content.decode()  # the package choice
    empty = client.post(reverse("customers:activate", args=[ready.pk]), {}, HTTP_HX_REQUEST="true")
    assert "请选择套餐，或至少选择一个模块" in empty.content.decode()
    refused = call(client, "post", f"{API}/customers/{ready.pk}/activate", {"package": 999999})
    assert assert_error(refused, 422, "validation_error")["fields"]["package"] == ["套餐不存在"]
    response = call(client, "post", f"{API}/customers/{ready.pk}/activate", {"package": package.pk})
    body = response.json()
    assert response.status_code == 200, body
    assert body["package"] == {"id": package.pk, "name": "物业版"}
    assert body["modules"] == ["property"]
