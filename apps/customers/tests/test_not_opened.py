"""未开通 (never switched on) is told apart from 关闭 (closed after being open): in the
page, the list and its filter, the export, the audit log, and for rows stored before."""

from __future__ import annotations

import importlib
import io

import pytest
from django.apps import apps as django_apps
from django.urls import reverse
from openpyxl import load_workbook

from apps.accounts.tests.factories import grant
from apps.customers.models import Customer
from apps.customers.services import customer_activate, customer_close
from apps.customers.tests.factories import make_customer
from apps.datasources.tests.factories import make_datasource

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(ops, devops):
    never = make_customer(actor=ops, complete=True, name="从未开通物业")
    was_open = make_customer(actor=ops, complete=True, name="开通后关闭物业")
    make_datasource(was_open, actor=devops)
    customer_activate(actor=ops, customer=was_open, modules=["property"])
    customer_close(actor=ops, customer=was_open, reason="合同到期")
    return Customer.objects.get(pk=never.pk), Customer.objects.get(pk=was_open.pk)


def test_statuses_differ(pair):
    never, was_open = pair
    assert never.status == Customer.Status.NOT_OPENED and never.get_status_display() == "未开通"
    assert was_open.status == Customer.Status.CLOSED and was_open.get_status_display() == "关闭"


def test_page_list_filter_and_export(client_for, ops, pair):
    never, was_open = pair
    client = client_for(ops)
    detail = client.get(reverse("customers:detail", args=[never.pk])).content.decode()
    assert '<span class="badge status-not-opened">未开通</span>' in detail
    closed = client.get(reverse("customers:detail", args=[was_open.pk])).content.decode()
    assert '<span class="badge off">关闭</span>' in closed and "status-not-opened" not in closed
    whole = client.get(reverse("customers:list")).content.decode()
    assert whole.count("status-not-opened") == 1 and '<span class="badge off">关闭</span>' in whole
    listing = client.get(reverse("customers:list"), {"status": "2"})
    assert [c.pk for c in listing.context["rows"]] == [never.pk]
    listing = client.get(reverse("customers:list"), {"status": "0"})
    assert [c.pk for c in listing.context["rows"]] == [was_open.pk]
    assert client.get(reverse("customers:export")).status_code == 403  # a manager's permission
    grant(ops, "customers.export_customer")
    sheet = load_workbook(io.BytesIO(client.get(reverse("customers:export")).getvalue())).active
    statuses = {row[1]: row[10] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert statuses == {"从未开通物业": "未开通", "开通后关闭物业": "关闭"}


def test_audit_shows_the_change_from_not_opened(client_for, admin_user, pair):
    _never, was_open = pair
    response = client_for(admin_user).get(
        reverse("audit:list"), {"object_type": "customer", "action": "activate"}
    )
    (row,) = response.context["rows"]
    labels = {c.label: (c.old, c.new) for c in row.changes}
    assert labels["状态"] == ("未开通", "开通")
    assert row.log.object_id == str(was_open.pk)


def test_the_data_migration_marks_rows_never_activated(ops, pair):
    never, was_open = pair
    Customer.objects.filter(pk=never.pk).update(status=Customer.Status.CLOSED)
    migration = importlib.import_module("apps.customers.migrations.0004_not_opened_status")
    migration.mark_never_opened(django_apps, None)
    never.refresh_from_db()
    was_open.refresh_from_db()
    assert never.status == Customer.Status.NOT_OPENED
    assert was_open.status == Customer.Status.CLOSED


def test_an_unnamed_customer_shows_its_enterprise_number_once(client_for, ops):
    customer = make_customer(actor=ops, name="")
    modal = client_for(ops).get(
        reverse("customers:activate", args=[customer.pk]), HTTP_HX_REQUEST="true"
    )
    text = modal.content.decode()
    assert text.count(customer.enterprise_no) == 1 and "未填写企业名称" in text
