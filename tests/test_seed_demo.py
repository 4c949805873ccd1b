"""manage.py seed_demo: demo staff who can sign in, customers and contracts in every state,
created through the services (so with audit rows), and a second run that changes nothing."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db.models import Count, Q
from django.test import Client
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.models import AuditLog
from apps.console import demo
from apps.console.management.commands.seed_demo import DEMO_STAFF
from apps.contracts.models import Contract
from apps.core.models import Sequence
from apps.core.validators import validate_license_no
from apps.customers.models import Customer
from apps.customers.services import missing_profile_fields

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def state_of_database() -> dict:
    return {
        "users": list(User.objects.order_by("username").values_list("username", "password")),
        "customers": list(
            Customer.objects.order_by("pk").values_list(
                "enterprise_no", "license_no", "name", "status", "owner_id", "modules", "updated_at"
            )
        ),
        "contracts": list(
            Contract.objects.order_by("pk").values_list("customer_id", "status", "updated_at")
        ),
        "audit": AuditLog.objects.count(),
        "sequences": list(Sequence.objects.values_list("name", "value")),
    }


def test_second_run_changes_nothing():
    first_output = seed()
    before = state_of_database()
    from apps.leads.models import Lead

    converted = Lead.objects.filter(customer__isnull=False).count()
    assert converted >= 1
    assert len(before["customers"]) == len(demo.LAYOUT) + converted
    assert "已创建演示客户" in first_output

    second_output = seed()

    assert state_of_database() == before
    assert "未做任何修改" in second_output
    assert settings.DEMO_PASSWORD in second_output  # the logins are printed every time


def test_every_demo_account_signs_in_through_the_login_form():
    seed()
    for username, _role, _name in DEMO_STAFF:
        client = Client()
        response = client.post(
            "/accounts/login/", {"username": username, "password": settings.DEMO_PASSWORD}
        )
        assert response.status_code == 302, username
        assert response["Location"] == "/"
        assert client.get("/").status_code == 200

    wrong = Client().post("/accounts/login/", {"username": "ops", "password": "Wrong@pass1"})
    assert wrong.status_code == 200
    assert "用户名或密码不正确" in wrong.content.decode()


def test_demo_accounts_hold_their_roles():
    seed()
    roles = {
        u.username: sorted(u.groups.values_list("name", flat=True)) for u in User.objects.all()
    }
    assert roles == {username: [role] for username, role, _name in DEMO_STAFF}


def test_customers_in_every_state_and_owner():
    seed()
    customers = list(Customer.objects.select_related("owner"))
    incomplete = [c for c in customers if missing_profile_fields(c)]
    complete = [c for c in customers if not missing_profile_fields(c)]

    # Incomplete: some with nothing but the name and the contact.
    assert len(incomplete) >= 8
    bare = [c for c in incomplete if not (c.license_no or c.province or c.address)]
    assert bare and all(c.name and c.contact_name and c.contact_phone for c in bare)
    assert all(not c.is_open for c in incomplete)

    never_opened = [c for c in complete if not c.is_open and c.activated_at is None]
    opened = [c for c in complete if c.is_open]
    closed_after_use = [c for c in complete if not c.is_open and c.activated_at is not None]
    assert len(never_opened) >= 5
    assert len(opened) >= 10 and all(c.modules for c in opened)
    assert len({tuple(c.modules) for c in opened}) > 3
    assert len(closed_after_use) >= 4
    assert all(c.close_reason and c.closed_at for c in closed_after_use)

    for group in (incomplete, never_opened, opened, closed_after_use):
        owners = {c.owner.username if c.owner else None for c in group}
        assert {"ops", None} <= owners
    assert {c.owner.username for c in customers if c.owner} == {"ops", "ops2"}


def test_customer_details_are_realistic():
    seed()
    customers = Customer.objects.exclude(license_no=None)
    licences = list(customers.values_list("license_no", flat=True))
    for number in licences:
        validate_license_no(number)
    assert any(n[0] in "NY" for n in licences), "letter-leading registration authorities"
    assert sum(n.startswith("91") for n in licences) > len(licences) // 2
    assert set(customers.values_list("province", flat=True)) >= {"440000", "110000", "310000"}
    assert all(c.name.endswith(("公司", "合作社", "业主大会")) for c in Customer.objects.all())
    phones = list(Customer.objects.values_list("contact_phone", flat=True))
    assert any(p.startswith("1") and len(p) == 11 for p in phones)
    assert any(p.startswith("0") and "-" in p for p in phones)
    offices = list(customers.values_list("office_phone", flat=True))
    assert any(o.startswith("400-") for o in offices) and any(o.startswith("0") for o in offices)


def test_contracts_cover_renewals_expiry_and_closing():
    seed()
    today = timezone.localdate()
    open_contracts = Contract.objects.filter(status=Contract.Status.OPEN)
    expiring = open_contracts.filter(end_date__gte=today, end_date__lte=today + dt.timedelta(30))
    expired = open_contracts.filter(end_date__lt=today)
    assert expiring.count() >= 3
    assert all(c.is_expiring for c in expiring)
    assert expired.count() >= 2
    assert open_contracts.filter(end_date__gt=today + dt.timedelta(30)).count() >= 5
    assert open_contracts.filter(start_date__gt=today).exists()  # signed, not started yet

    closed = Contract.objects.filter(status=Contract.Status.CLOSED)
    assert closed.count() >= 6 and all(c.remarks for c in closed)

    renewed = Customer.objects.annotate(
        n=Count("contracts"),
        closed=Count("contracts", filter=Q(contracts__status="closed")),
    ).filter(n__gte=2, closed__gte=1)
    assert renewed.count() >= 4
    for customer in renewed:
        old, new = customer.contracts.order_by("start_date")[:2]
        assert new.start_date == old.end_date + dt.timedelta(days=1)


def test_everything_was_written_through_the_services_with_audit_rows():
    seed()
    customer_type = ContentType.objects.get_for_model(Customer)
    contract_type = ContentType.objects.get_for_model(Contract)
    created = set(
        AuditLog.objects.filter(content_type=customer_type, action="create").values_list(
            "object_id", flat=True
        )
    )
    assert created == {str(pk) for pk in Customer.objects.values_list("pk", flat=True)}
    contract_rows = AuditLog.objects.filter(content_type=contract_type, action="create")
    assert contract_rows.count() == Contract.objects.count()
    actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {"create", "update", "assign", "activate", "close"} <= actions
    actors = set(
        AuditLog.objects.filter(content_type=customer_type).values_list(
            "actor__username", flat=True
        )
    )
    assert {"ops", "ops2", "opsmgr"} <= actors


def test_an_existing_demo_set_is_recognised_by_its_marker():
    seed()
    first = Customer.objects.order_by("pk").first()
    assert first.remarks.startswith(demo.DEMO_MARKER)
    # A database that holds the demo set (even after someone edited the licences) is left alone.
    Customer.objects.update(license_no=None)
    count = Customer.objects.count()
    seed()
    assert Customer.objects.count() == count


def test_the_plan_is_deterministic():
    today = dt.date(2026, 3, 1)
    assert demo.build_plan(today) == demo.build_plan(today)
    names = [p.profile["name"] for p in demo.build_plan(today)]
    assert len(set(names)) == len(names)


@pytest.mark.django_db
def test_every_opened_demo_customer_has_a_marked_demo_data_source():
    from apps.console.demo import DEMO_DATASOURCE_NOTE
    from apps.customers.models import Customer
    from apps.datasources.models import DataSource

    call_command("seed_demo", stdout=StringIO())
    opened = Customer.objects.filter(activated_at__isnull=False)
    assert opened.exists()
    assert not opened.filter(datasource__isnull=True).exists()
    assert set(DataSource.objects.values_list("remarks", flat=True)) == {DEMO_DATASOURCE_NOTE}
    assert set(DataSource.objects.values_list("impl_status", flat=True)) == {0, 1, 2}


@pytest.mark.django_db
def test_demo_leads_cover_every_state_and_channel():
    from apps.leads.models import FollowUp, Lead, QrChannel

    call_command("seed_demo", stdout=StringIO())
    statuses = set(Lead.objects.values_list("status", flat=True))
    assert statuses == {s.value for s in Lead.Status}
    assert set(Lead.objects.values_list("channel", flat=True)) == {"web", "wechat", "qr", "offline"}
    assert Lead.objects.filter(owner__isnull=True).exists()
    assert QrChannel.objects.count() == 2 and Lead.objects.filter(qr_channel__isnull=False)
    assert FollowUp.objects.exists()
    call_command("seed_demo", stdout=StringIO())
    assert QrChannel.objects.count() == 2 and Lead.objects.count() == 30
