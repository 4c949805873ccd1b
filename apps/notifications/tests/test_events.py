"""What happens in the platform reaches the robots, end to end: a self-application, an
assignment and a call-back falling overdue, each through the task queue (Celery's eager
mode runs the tasks in the test) to a local http.server standing in for the robot."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from apps.leads.models import Lead
from apps.leads.services import announce_overdue, lead_assign, lead_register
from apps.notifications import services
from apps.notifications.models import Delivery
from apps.notifications.tests.conftest import OK

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager():
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def team(fake, admin_user, ops, ops2, manager):
    fake.body = OK
    return services.robot_save(
        actor=admin_user,
        data={"name": "运营群", "kind": "wecom", "webhook": f"{fake.url}send?key=k"},
        members=[ops, ops2, manager],
    )


def texts(fake) -> list[str]:
    return [json.loads(r["body"])["text"]["content"] for r in fake.requests]


def test_a_self_application_reaches_everyone_who_may_claim_it(
    eager,
    team,
    fake,
    ops,
    django_capture_on_commit_callbacks,
):
    services.preferences_set(user=ops, enabled=[])  # ops turned everything off
    with django_capture_on_commit_callbacks(execute=True):
        lead_register(name="张三", phone="13800138000", company="阳光物业", consented=True)
    sent = texts(fake)
    assert len(sent) == 2  # ops2 and the manager; not ops
    assert all("新的客户申请：阳光物业（网页），手机 138****8000" in t for t in sent)
    assert "13800138000" not in " ".join(sent)
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


def test_an_assignment_reaches_the_new_owner(
    eager,
    team,
    fake,
    ops,
    manager,
    django_capture_on_commit_callbacks,
):
    lead = lead_register(name="李四", phone="13900139000", consented=True).lead
    with django_capture_on_commit_callbacks(execute=True):
        lead_assign(actor=manager, leads=[lead], owner=ops)
    assert texts(fake) == ["【绘管家】主管老张 把客户申请分配给你：李四。"]
    assert Delivery.objects.get().recipient == ops


def test_an_overdue_call_back_is_announced_once_per_due_moment(
    eager,
    team,
    fake,
    ops,
    django_capture_on_commit_callbacks,
):
    lead = lead_register(name="王五", phone="13700137000", company="翠湖物业").lead
    Lead.objects.filter(pk=lead.pk).update(
        owner=ops, registered_at=timezone.now() - dt.timedelta(hours=25)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert announce_overdue() == 1
        assert announce_overdue() == 0  # told already
    assert texts(fake) == ["【绘管家】1 条客户申请回访已逾期：翠湖物业，请尽快回访。"]
    # Called back, with the next call-back in two hours: due again once that passes.
    later = timezone.now() + dt.timedelta(hours=2)
    Lead.objects.filter(pk=lead.pk).update(
        last_follow_up_at=timezone.now(), next_follow_up_at=later
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert announce_overdue() == 0  # not yet
        assert announce_overdue(now=later + dt.timedelta(minutes=1)) == 1
    assert len(texts(fake)) == 2


def test_a_failed_provisioning_reaches_whoever_started_it(
    eager, fake, admin_user, devops, ops, mysql_account, tenant_settings,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    from apps.customers.tests.factories import make_customer
    from apps.datasources.services import ProvisioningFailed, datasource_configure

    services.robot_save(
        actor=admin_user,
        data={"name": "运维群", "kind": "wecom", "webhook": f"{fake.url}send?key=k"},
        members=[devops],
    )
    customer = make_customer(actor=ops, complete=True, name="绿城物业")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ProvisioningFailed):
        datasource_configure(
            actor=devops,
            customer=customer,
            data=mysql_account.data(password="Wrong#Pass2026"),
        )
    (text,) = texts(fake)
    assert text.startswith("【绘管家】配置数据源 DS-") and "绿城物业" in text
    assert "账号或密码错误" in text and "Wrong#Pass2026" not in text
