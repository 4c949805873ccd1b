"""企业微信 and 钉钉 group robots at their HTTP boundary — a local http.server stands in for
both: the payload, 钉钉's signed URL (checked by an independent implementation), retries
with backoff after a failure, nothing sent to a person who turned a kind off, personal and
team robots, and the webhook's key kept out of every page and audit row."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import urllib.parse

import pytest
from django.utils import timezone

from apps.audit.models import AuditLog
from apps.core import registry
from apps.core.errors import Forbidden, ValidationFailed
from apps.notifications import services
from apps.notifications.models import Delivery, Robot
from apps.notifications.tests.conftest import OK

pytestmark = pytest.mark.django_db

KEY = "wecom-key-3f9a1c"
SECRET = "SEC0d9c7b1e8f2a4c6e"


@pytest.fixture
def wecom(fake, admin_user, ops):
    return services.robot_save(
        actor=admin_user,
        data={
            "name": "运营群",
            "kind": "wecom",
            "webhook": f"{fake.url}cgi-bin/webhook/send?key={KEY}",
        },
        members=[ops],
    )


@pytest.fixture
def dingtalk(fake, admin_user, ops):
    return services.robot_save(
        actor=admin_user,
        data={
            "name": "小王的钉钉",
            "kind": "dingtalk",
            "webhook": f"{fake.url}robot/send?access_token=tok123",
            "secret": SECRET,
            "owner": ops,
        },
    )


TEXT = "【绘管家】新的客户申请：阳光物业（网页），手机 138****8000"


def notify(user, text=TEXT, kind="lead_new"):
    return registry.notify(registry.Notice(user, kind, text))


def deliver_all() -> list[str]:
    return [
        services.deliver(pk) for pk in Delivery.objects.order_by("pk").values_list("pk", flat=True)
    ]


def test_a_notice_reaches_the_team_and_the_personal_robot(fake, wecom, dingtalk, ops):
    delivered, failed = notify(ops)
    assert "群机器人" in delivered and failed == []
    assert sorted(Delivery.objects.values_list("robot__name", flat=True)) == [
        "小王的钉钉",
        "运营群",
    ]
    assert deliver_all() == ["sent", "sent"]

    by_path = {r["path"].split("?")[0]: r for r in fake.requests}
    wecom_request = by_path["/cgi-bin/webhook/send"]
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(wecom_request["path"]).query) == {
        "key": [KEY]
    }
    assert wecom_request["headers"]["content-type"] == "application/json; charset=utf-8"
    assert json.loads(wecom_request["body"]) == {
        "msgtype": "text",
        "text": {"content": TEXT},
    }

    # 钉钉: the signature, recomputed from its documentation.
    ding = by_path["/robot/send"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(ding["path"]).query)
    timestamp = query["timestamp"][0]
    assert abs(int(timestamp) - time.time() * 1000) < 60_000
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    assert query["sign"] == [expected] and query["access_token"] == ["tok123"]
    assert json.loads(ding["body"])["msgtype"] == "text"
    assert Delivery.objects.filter(status="sent").count() == 2


def test_a_failure_is_retried_with_backoff_until_it_goes_or_runs_out(fake, wecom, ops):
    notify(ops)
    fake.status, fake.body = 502, b"<html>bad gateway</html>"
    assert deliver_all() == ["retry"]
    delivery = Delivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.error == "机器人服务返回 HTTP 502"
    assert delivery.next_attempt_at > timezone.now()
    assert services.resend_due() == 0  # not due yet
    assert services.resend_due(now=timezone.now() + dt.timedelta(minutes=2)) == 1

    fake.status, fake.body = 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
    assert services.deliver(delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert "errcode 93000" in delivery.error
    fake.body = OK
    assert services.deliver(delivery.pk) == "sent"
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 3 and delivery.error == ""
    assert services.deliver(delivery.pk) == "skipped"  # a second delivery of the task

    notify(ops)
    fake.status = 500
    last = Delivery.objects.latest("pk")
    for _attempt in range(3):
        services.deliver(last.pk)
    last.refresh_from_db()
    assert last.status == "failed" and last.attempts == 3


def test_nothing_goes_to_a_person_who_turned_the_kind_off(fake, wecom, ops, devops):
    services.preferences_set(user=ops, enabled=["lead_assigned"])
    assert notify(ops) == ([], [])
    assert Delivery.objects.count() == 0
    assert notify(ops, kind="lead_assigned")[0] == ["群机器人"]
    # Not a member of the team robot: nothing either.
    assert notify(devops, kind="datasource_failed") == ([], [])
    with pytest.raises(ValidationFailed):
        services.preferences_set(user=ops, enabled=["datasource_failed"])  # not ops' kind


def test_fan_out_reaches_the_holders_of_a_permission(fake, wecom, ops, manager, devops):
    wecom.members.add(manager, devops)
    # ops, manager and the admin hold it (the admin is on no robot); devops does not.
    assert services.fan_out("lead_new", "新的客户申请", [], "leads.claim_lead") == 3
    assert set(Delivery.objects.values_list("recipient__username", flat=True)) == {
        ops.username,
        manager.username,
    }


def test_robots_are_for_admins_and_keep_their_key_secret(fake, wecom, admin_user, ops, client):
    with pytest.raises(Forbidden):
        services.robot_save(actor=ops, data={"name": "x", "kind": "wecom", "webhook": fake.url})
    with pytest.raises(ValidationFailed) as exc:
        services.robot_save(actor=admin_user, data={"name": "", "kind": "qq", "webhook": "ftp://x"})
    assert set(exc.value.fields) == {"name", "kind", "webhook"}
    # Changing without retyping the webhook keeps it.
    services.robot_save(
        actor=admin_user, robot=wecom, data={"name": "运营一组", "kind": "wecom", "webhook": ""}
    )
    wecom.refresh_from_db()
    assert KEY in wecom.webhook() and wecom.name == "运营一组"
    client.force_login(admin_user)
    for url in ("/notifications/robots/", f"/notifications/robots/{wecom.pk}/"):
        page = client.get(url).content.decode()
        assert "运营一组" in page and KEY not in page and wecom.webhook_encrypted not in page
    for row in AuditLog.objects.filter(action__startswith="robot_"):
        assert KEY not in f"{row.message} {row.changes}"
    # 发送测试消息 answers at once.
    response = client.post(f"/notifications/robots/{wecom.pk}/test/", follow=True)
    assert "已向「运营一组」发送测试消息" in response.content.decode()
    assert "测试消息" in json.loads(fake.last["body"])["text"]["content"]


def test_the_preferences_page(fake, wecom, ops, client):
    client.force_login(ops)
    page = client.get("/notifications/").content.decode()
    assert "新的自助申请" in page and "运营群" in page and "数据源配置" not in page
    response = client.post("/notifications/", {"kinds": ["lead_assigned"]}, follow=True)
    assert "已保存通知设置" in response.content.decode()
    assert not services.wants(ops, "lead_new") and services.wants(ops, "lead_assigned")
    assert Robot.objects.count() == 1
