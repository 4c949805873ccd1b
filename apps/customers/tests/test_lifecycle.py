"""The service lifecycle with a controlled clock: trial → grace → suspended, a contract in
grace restores service, the sweep is idempotent and audits every move, trials are
extended within limits."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.audit.models import AuditLog
from apps.contracts.services import contract_set_status
from apps.contracts.tests.factories import make_contract
from apps.core.errors import Conflict, Forbidden, ValidationFailed
from apps.customers.lifecycle import (
    Standing,
    customer_extend_trial,
    customer_start_trial,
    daily_sweep,
    refresh,
    standing,
)
from apps.customers.models import Customer, ServiceState
from apps.customers.packages import package_create
from apps.customers.services import customer_activate, customer_close
from apps.customers.tests.factories import make_customer
from apps.datasources.tests.factories import make_datasource

pytestmark = pytest.mark.django_db

D = dt.date
TODAY = timezone.localdate


@pytest.fixture(autouse=True)
def _grace(settings):
    settings.SERVICE_GRACE_DAYS = 15
    settings.TRIAL_MAX_EXTENSIONS = 2


@pytest.fixture
def package(manager):
    return package_create(actor=manager, data={"name": "试用版", "modules": ["property"]})


@pytest.fixture
def ready(ops, devops):
    customer = make_customer(actor=ops, complete=True)
    make_datasource(customer, actor=devops)
    return customer


def state(customer) -> tuple[str, dt.date | None]:
    row = Customer.objects.get(pk=customer.pk)
    return row.service_state, row.service_ends_on


# --- the rule --------------------------------------------------------------------------


def opened(**fields) -> Customer:
    return Customer(status=Customer.Status.OPEN, **fields)


@pytest.mark.parametrize(
    ("customer", "periods", "today", "expected"),
    [
        (Customer(status=Customer.Status.NOT_OPENED), [], D(2026, 5, 1), Standing("", None)),
        (Customer(status=Customer.Status.CLOSED), [(D(2026, 1, 1), D(2026, 12, 31))],
         D(2026, 5, 1), Standing("closed", None)),
        (opened(), [], D(2026, 5, 1), Standing("active", None)),  # nothing has lapsed
        (opened(), [(D(2026, 1, 1), D(2026, 6, 30))], D(2026, 5, 1),
         Standing("active", D(2026, 6, 30))),
        # Renewals that touch are one period; the end is the last renewal's.
        (opened(), [(D(2026, 7, 1), D(2026, 12, 31)), (D(2026, 1, 1), D(2026, 6, 30))],
         D(2026, 5, 1), Standing("active", D(2026, 12, 31))),
        (opened(), [(D(2026, 1, 1), D(2026, 4, 30))], D(2026, 5, 1),
         Standing("grace", D(2026, 5, 15))),
        (opened(), [(D(2026, 1, 1), D(2026, 4, 30))], D(2026, 5, 15),
         Standing("grace", D(2026, 5, 15))),
        (opened(), [(D(2026, 1, 1), D(2026, 4, 30))], D(2026, 5, 16), Standing("suspended", None)),
        (opened(trial_ends_on=D(2026, 5, 10)), [], D(2026, 5, 1),
         Standing("trial", D(2026, 5, 10))),
        (opened(trial_ends_on=D(2026, 5, 10)), [], D(2026, 5, 11),
         Standing("grace", D(2026, 5, 25))),
        # A contract during the trial converts it.
        (opened(trial_ends_on=D(2026, 5, 10)), [(D(2026, 5, 1), D(2027, 4, 30))], D(2026, 5, 2),
         Standing("active", D(2027, 4, 30))),
        # A contract signed to start later: served until it starts, not lapsed.
        (opened(), [(D(2026, 6, 1), D(2027, 5, 31))], D(2026, 5, 1),
         Standing("active", D(2027, 5, 31))),
        # A gap between two contracts is a grace like any other end.
        (opened(), [(D(2026, 1, 1), D(2026, 3, 31)), (D(2026, 6, 1), D(2026, 12, 31))],
         D(2026, 4, 20), Standing("suspended", None)),
    ],
)  # fmt: skip
def test_standing(customer, periods, today, expected):
    assert standing(customer, periods, today) == expected


# --- trial → grace → suspended, by the sweep ----------------------------------------------


def test_a_trial_lapses_into_grace_then_suspension_each_move_audited(ready, ops, package):
    customer = customer_start_trial(actor=ops, customer=ready, package=package, days=10)
    start = TODAY()
    assert customer.status == Customer.Status.OPEN and customer.package == package
    assert state(customer) == ("trial", start + dt.timedelta(days=10))
    assert AuditLog.objects.filter(action="trial_start", object_id=str(customer.pk)).exists()
    seq = Customer.objects.get(pk=customer.pk).registry_seq

    assert daily_sweep(today=start + dt.timedelta(days=10)) == {}  # its last day
    grace_day = start + dt.timedelta(days=11)
    assert daily_sweep(today=grace_day) == {"grace": 1}
    assert state(customer) == ("grace", start + dt.timedelta(days=25))
    assert daily_sweep(today=grace_day) == {}  # twice: nothing more
    assert daily_sweep(today=start + dt.timedelta(days=25)) == {}
    assert daily_sweep(today=start + dt.timedelta(days=26)) == {"suspended": 1}
    assert state(customer) == ("suspended", None)
    assert daily_sweep(today=start + dt.timedelta(days=40)) == {}

    moves = list(
        AuditLog.objects.filter(action="service_state", object_id=str(customer.pk))
        .order_by("id")
        .values_list("changes", "message")
    )
    assert [changes["service_state"] for changes, _m in moves] == [
        ["", "trial"],
        ["trial", "grace"],
        ["grace", "suspended"],
    ]
    assert "试用中 → 宽限期（至" in moves[1][1] and "宽限期 → 已停用" in moves[2][1]
    assert Customer.objects.get(pk=customer.pk).registry_seq > seq  # the feed saw each move


def test_a_contract_added_in_grace_restores_service(ready, ops, package):
    customer = customer_start_trial(actor=ops, customer=ready, package=package, days=5)
    Customer.objects.filter(pk=customer.pk).update(trial_ends_on=TODAY() - dt.timedelta(days=3))
    refresh([customer.pk])
    assert state(customer)[0] == "grace"
    contract = make_contract(
        actor=ops,
        customer=customer,
        start_date=TODAY() - dt.timedelta(days=1),
        end_date=TODAY() + dt.timedelta(days=364),
    )
    assert state(customer) == ("active", contract.end_date)
    # Closing the contract takes the service back to where the dates say.
    contract_set_status(actor=ops, contract=contract, status="closed", reason="作废")
    assert state(customer)[0] == "grace"


def test_opening_and_closing_set_the_state(ready, ops, package):
    customer_start_trial(actor=ops, customer=ready, package=package, days=3)
    Customer.objects.filter(pk=ready.pk).update(trial_ends_on=TODAY() - dt.timedelta(days=60))
    refresh([ready.pk])
    assert state(ready) == ("suspended", None)
    customer_close(actor=ops, customer=ready, reason="试用后未签约")
    assert state(ready) == ("closed", None)
    # Opened again (paid, contract to follow): the old trial is not held against it.
    customer_activate(actor=ops, customer=ready, modules=["property"])
    assert state(ready) == ("active", None)
    assert Customer.objects.get(pk=ready.pk).trial_ends_on is None


def test_a_trial_needs_a_package_and_the_prerequisites(ops, package, ready):
    with pytest.raises(ValidationFailed) as exc:
        customer_start_trial(actor=ops, customer=ready, package=None)
    assert exc.value.fields["package"] == ["试用须选择套餐"]
    for days in (0, -1, 181, "abc"):
        with pytest.raises(ValidationFailed) as exc:
            customer_start_trial(actor=ops, customer=ready, package=package, days=days)
        assert "days" in exc.value.fields
    bare = make_customer(actor=ops, complete=True)  # no data source
    with pytest.raises(Conflict):
        customer_start_trial(actor=ops, customer=bare, package=package)
    assert state(bare) == ("", None)


def test_managers_extend_a_trial_a_limited_number_of_times(ready, ops, manager, package):
    customer = customer_start_trial(actor=ops, customer=ready, package=package, days=10)
    with pytest.raises(Forbidden):
        customer_extend_trial(actor=ops, customer=customer, days=5)
    end = state(customer)[1]
    customer = customer_extend_trial(actor=manager, customer=customer, days=5)
    assert state(customer) == ("trial", end + dt.timedelta(days=5))
    customer_extend_trial(actor=manager, customer=customer)
    with pytest.raises(Conflict) as exc:
        customer_extend_trial(actor=manager, customer=customer)
    assert "试用已延长 2 次" in exc.value.message
    assert AuditLog.objects.filter(action="trial_extend").count() == 2


def test_the_command(ready, ops, package, capsys):
    customer_start_trial(actor=ops, customer=ready, package=package, days=1)
    later = (TODAY() + dt.timedelta(days=2)).isoformat()
    call_command("daily_sweep", "--today", later)
    assert "已更新服务状态：宽限期 1 个" in capsys.readouterr().out
    call_command("daily_sweep", "--today", later)
    assert "未做任何修改" in capsys.readouterr().out
    for bad in ("2026-02-30", "tomorrow", "1900-01-01"):
        with pytest.raises(CommandError):
            call_command("daily_sweep", "--today", bad)


def test_the_sweep_is_scheduled():
    from django.conf import settings

    from config.celery import app

    app.loader.import_default_modules()  # what a worker does on start: find every tasks.py
    entry = settings.CELERY_BEAT_SCHEDULE["daily-sweep"]
    assert entry["task"] in app.tasks
    assert ServiceState.GRACE.label == "宽限期"


# --- console and API ---------------------------------------------------------------------

HX = {"HTTP_HX_REQUEST": "true"}


def test_the_console_opens_and_extends_a_trial(ready, ops, manager, package, client_for):
    from django.urls import reverse

    client = client_for(ops)
    detail = reverse("customers:detail", args=[ready.pk])
    assert "开通试用" in client.get(detail).content.decode()
    modal = client.get(reverse("customers:trial", args=[ready.pk]), **HX).content.decode()
    assert "试用版" in modal and 'value="30"' in modal
    refused = client.post(reverse("customers:trial", args=[ready.pk]), {"days": "7"}, **HX)
    assert "请选择套餐" in refused.content.decode()
    done = client.post(
        reverse("customers:trial", args=[ready.pk]), {"package": package.pk, "days": "7"}, **HX
    )
    assert done["HX-Redirect"] == detail
    page = client.get(detail).content.decode()
    assert "试用中" in page and "试用版" in page and "延长试用" not in page  # ops may not
    assert "开通试用" in page and "服务状态变更" in page  # the history, labelled
    manager_page = client_for(manager).get(detail).content.decode()
    assert "延长试用" in manager_page
    extended = client_for(manager).post(
        reverse("customers:extend_trial", args=[ready.pk]), {"days": "10"}, **HX
    )
    assert extended["HX-Redirect"] == detail
    assert state(ready) == ("trial", TODAY() + dt.timedelta(days=17))
    listed = client.get(reverse("customers:list") + "?service=trial", **HX).content.decode()
    assert ready.enterprise_no in listed
    assert (
        ready.enterprise_no
        not in client.get(reverse("customers:list") + "?service=grace", **HX).content.decode()
    )


def test_the_api_opens_and_extends_a_trial(ready, ops, manager, package, client_for):
    from apps.api.tests.helpers import API, assert_error, call

    response = call(
        client_for(ops), "post", f"{API}/customers/{ready.pk}/trial", {"package": package.pk}
    )
    body = response.json()
    assert response.status_code == 200, body
    assert body["service_state"] == "trial" and body["trial_extensions"] == 0
    assert body["service_ends_on"] == (TODAY() + dt.timedelta(days=30)).isoformat()
    path = f"{API}/customers/{ready.pk}/trial/extend"
    assert_error(call(client_for(ops), "post", path, {"days": 5}), 403, "forbidden")
    extended = call(client_for(manager), "post", path, {"days": 5}).json()
    assert extended["trial_ends_on"] == (TODAY() + dt.timedelta(days=35)).isoformat()
    listed = client_for(ops).get(f"{API}/customers", {"service": "trial"}).json()
    assert [c["id"] for c in listed["items"]] == [ready.pk]
    bad = client_for(ops).get(f"{API}/customers", {"service": "expired"})
    assert_error(bad, 422, "validation_error")
