"""到期提醒 with a controlled clock, sent through the real SMS gateways to a fake provider
at the HTTP boundary (a local http.server): ahead of a trial's, a contract's and a grace
period's end, once per threshold, retried after a failure, never twice — also when two
sweeps run at once."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from apps.audit.models import AuditLog
from apps.contracts.tests.factories import make_contract
from apps.customers.lifecycle import customer_start_trial, daily
from apps.customers.models import Customer, ServiceReminder
from apps.customers.packages import package_create
from apps.customers.reminders import due_threshold, send_reminders
from apps.customers.tests.factories import make_customer
from apps.datasources.tests.factories import make_datasource
from apps.sms.tests.test_gateways import (
    ALIYUN_OK,
    tencent_reply,
    verify_aliyun_request,
    verify_tencent_request,
)

TODAY = timezone.localdate
NOTICE_TEMPLATE = "SMS_NOTICE_0001"


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.SERVICE_GRACE_DAYS = 15
    settings.SERVICE_REMINDER_DAYS = [7, 1]
    settings.SERVICE_REMINDER_ATTEMPTS = 3


@pytest.fixture
def aliyun(provider, settings):
    settings.SMS_BACKEND = "aliyun"
    settings.SMS_NOTICE_TEMPLATE_ID = NOTICE_TEMPLATE
    provider.body = ALIYUN_OK
    return provider


@pytest.fixture
def owner(ops):
    ops.phone = "138 0013 8000"
    ops.save(update_fields=["phone"])
    return ops


@pytest.fixture
def package(manager):
    return package_create(actor=manager, data={"name": "试用版", "modules": ["property"]})


def trial(owner, package, days: int) -> Customer:
    customer = make_customer(actor=owner, complete=True, name="阳光物业")
    make_datasource(customer, actor=None)
    return customer_start_trial(actor=owner, customer=customer, package=package, days=days)


def sent_params(fake) -> list[dict]:
    return [json.loads(verify_aliyun_request(r)["TemplateParam"]) for r in fake.requests]


def reminders_audited(customer) -> list[str]:
    return list(
        AuditLog.objects.filter(action="service_reminder", object_id=str(customer.pk))
        .order_by("pk")
        .values_list("message", flat=True)
    )


@pytest.mark.parametrize(
    ("days_left", "expected"),
    [(30, None), (8, None), (7, 7), (5, 7), (2, 7), (1, 1), (0, 1), (-1, None)],
)
def test_the_reminder_due_is_the_smallest_threshold_at_or_above_the_days_left(days_left, expected):
    assert due_threshold(days_left, [7, 1]) == expected


@pytest.mark.django_db
def test_a_trial_is_warned_seven_days_and_one_day_ahead_once_each(aliyun, owner, package):
    customer = trial(owner, package, days=10)
    start = TODAY()
    end = start + dt.timedelta(days=10)

    assert daily(today=start)[1] == {}  # ten days left: too early
    assert daily(today=start + dt.timedelta(days=3))[1] == {"sent": 1}
    assert daily(today=start + dt.timedelta(days=3))[1] == {}  # twice: nothing more
    assert daily(today=start + dt.timedelta(days=5))[1] == {}  # still the 7-day reminder
    assert daily(today=start + dt.timedelta(days=9))[1] == {"sent": 1}
    assert daily(today=start + dt.timedelta(days=10))[1] == {}

    request = verify_aliyun_request(aliyun.requests[0])
    assert request["TemplateCode"] == NOTICE_TEMPLATE and request["PhoneNumbers"] == "13800138000"
    assert sent_params(aliyun) == [
        {"customer": "阳光物业", "what": "试用期", "date": end.isoformat(), "days": "7"},
        {"customer": "阳光物业", "what": "试用期", "date": end.isoformat(), "days": "1"},
    ]
    rows = ServiceReminder.objects.filter(customer=customer).order_by("-days_before")
    assert [(r.state, r.ends_on, r.days_before, r.channels) for r in rows] == [
        ("trial", end, 7, "短信"),
        ("trial", end, 1, "短信"),
    ]
    assert all(r.recipient == owner and r.sent_at and r.attempts == 1 for r in rows)
    audited = reminders_audited(customer)
    assert len(audited) == 2
    assert "到期提醒（提前 7 天）：客户「阳光物业」的试用期将于" in audited[0]
    assert "（剩 7 天），到期后进入 15 天宽限期" in audited[0]
    assert "已通过短信提醒 运营小王" in audited[0]


@pytest.mark.django_db
def test_a_contract_end_and_a_grace_end_are_warned_and_a_renewal_starts_afresh(
    aliyun, owner, package
):
    customer = trial(owner, package, days=10)
    today = TODAY()
    contract = make_contract(
        actor=owner, customer=customer, start_date=today, end_date=today + dt.timedelta(days=20)
    )
    assert daily(today=today + dt.timedelta(days=14))[1] == {"sent": 1}  # 6 days left
    assert sent_params(aliyun)[-1]["what"] == "服务期"
    # Renewed: the service now ends later, and nothing more is due for a while.
    make_contract(
        actor=owner,
        customer=customer,
        start_date=contract.end_date + dt.timedelta(days=1),
        end_date=contract.end_date + dt.timedelta(days=365),
    )
    assert daily(today=today + dt.timedelta(days=15))[1] == {}
    assert daily(today=today + dt.timedelta(days=380))[1] == {"sent": 1}
    # Lapsed: the grace period's end is warned too, with what follows it.
    lapsed = today + dt.timedelta(days=386)  # the day after the renewal's last
    assert daily(today=lapsed)[0] == {"grace": 1}
    assert daily(today=lapsed + dt.timedelta(days=7))[1] == {"sent": 1}  # 7 days left
    last = sent_params(aliyun)[-1]
    assert last["what"] == "宽限期" and last["days"] == "7"
    assert "到期后将停用" in reminders_audited(customer)[-1]


@pytest.mark.django_db
def test_tencent_fills_the_template_by_position(provider, settings, owner, package):
    settings.SMS_BACKEND = "tencent"
    settings.SMS_NOTICE_TEMPLATE_ID = "1900001"
    provider.body = tencent_reply()
    trial(owner, package, days=7)
    assert send_reminders(today=TODAY()) == {"sent": 1}
    payload = verify_tencent_request(provider.last)
    end = (TODAY() + dt.timedelta(days=7)).isoformat()
    assert payload["TemplateId"] == "1900001"
    assert payload["TemplateParamSet"] == ["阳光物业", "试用期", end, "7"]
    assert payload["PhoneNumberSet"] == ["+8613800138000"]


@pytest.mark.django_db
def test_a_failed_reminder_is_retried_on_the_next_sweeps_a_limited_number_of_times(
    aliyun, owner, package, caplog
):
    customer = trial(owner, package, days=10)
    start = TODAY()
    aliyun.body = {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发天级流控"}
    assert send_reminders(today=start + dt.timedelta(days=3)) == {"failed": 1}
    row = ServiceReminder.objects.get(customer=customer)
    assert row.sent_at is None and row.error == "短信发送失败（138****8000）"
    assert "下次巡检将重试" in reminders_audited(customer)[-1]
    assert "13800138000" not in caplog.text

    assert send_reminders(today=start + dt.timedelta(days=4)) == {"failed": 1}
    aliyun.body = ALIYUN_OK
    assert send_reminders(today=start + dt.timedelta(days=5)) == {"sent": 1}
    row.refresh_from_db()
    assert row.attempts == 3 and row.sent_at and row.error == ""
    assert len(aliyun.requests) == 3

    # Three failures and it gives up on that threshold (the next one still comes).
    aliyun.body = {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发天级流控"}
    for day in (9, 9, 9, 9):
        send_reminders(today=start + dt.timedelta(days=day))
    assert len(aliyun.requests) == 6
    last = ServiceReminder.objects.get(customer=customer, days_before=1)
    assert last.attempts == 3 and last.sent_at is None
    assert "下次巡检将重试" not in reminders_audited(customer)[-1]


@pytest.mark.django_db
def test_no_phone_or_no_notice_template_records_an_undelivered_reminder_once(
    aliyun, settings, ops, package
):
    customer = trial(ops, package, days=7)  # 运营小王 has no phone
    assert send_reminders(today=TODAY()) == {"undelivered": 1}
    assert send_reminders(today=TODAY()) == {}
    assert "其未登记手机号或未配置提醒短信" in reminders_audited(customer)[-1]

    # A phone, but no notice template: the code template is never borrowed.
    settings.SMS_NOTICE_TEMPLATE_ID = ""
    ops.phone = "13800138000"
    ops.save(update_fields=["phone"])
    ServiceReminder.objects.all().delete()
    assert send_reminders(today=TODAY()) == {"undelivered": 1}
    assert aliyun.requests == []


@pytest.mark.django_db
def test_a_customer_without_owner_or_not_open_is_not_sent_anything(aliyun, owner, package):
    customer = trial(owner, package, days=7)
    Customer.objects.filter(pk=customer.pk).update(owner=None)
    assert send_reminders(today=TODAY()) == {"undelivered": 1}
    assert "无在职负责人" in reminders_audited(customer)[-1]
    other = trial(owner, package, days=1)
    Customer.objects.filter(pk=other.pk).update(status=Customer.Status.CLOSED)
    assert send_reminders(today=TODAY()) == {}
    assert aliyun.requests == []


@pytest.mark.django_db
def test_the_command_reports_the_reminders(aliyun, owner, package, capsys):
    trial(owner, package, days=7)
    call_command("daily_sweep")
    assert "到期提醒：已送达 1 条" in capsys.readouterr().out
    call_command("daily_sweep")
    assert "到期提醒" not in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_send_one_reminder(aliyun, owner, package):
    trial(owner, package, days=7)
    aliyun.delay = 0.3  # both sweeps are inside before either finishes
    barrier = threading.Barrier(2)
    results: list = []
    errors: list = []

    def sweep() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(send_reminders(today=TODAY()))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(sum(r.values()) for r in results) == [0, 1]
    assert len(aliyun.requests) == 1
    assert ServiceReminder.objects.count() == 1
