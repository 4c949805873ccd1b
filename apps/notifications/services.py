"""Notifications to 企业微信 / 钉钉 group robots: the channel the kernel's ``notify`` hands
every notice to, the worker's delivery with retries, the robots' and people's settings.

``send`` only records deliveries (in the caller's transaction) and queues them after it
commits: the action that caused a notice never waits for a robot, and a broker that cannot
take the message leaves it to the beat's ``resend_due``. A failed send is tried again with
backoff (1, 2, 4 … minutes), ``ROBOT_MAX_ATTEMPTS`` times in all.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.core import registry
from apps.core.errors import NotFound, ValidationFailed
from apps.core.permissions import has_perm, require_perm
from apps.core.records import update_if

from . import robots
from .models import Delivery, Preference, Robot

logger = logging.getLogger(__name__)

MANAGE = "notifications.manage_robot"


# --- the channel ---------------------------------------------------------------------------


def wants(user: Any, kind: str) -> bool:
    return not Preference.objects.filter(user=user, kind=kind, enabled=False).exists()


def robots_of(user: Any) -> list[Robot]:
    """The active robots that reach ``user``: their own, and their teams'."""
    return list(
        Robot.objects.filter(is_active=True)
        .filter(Q(owner=user) | Q(owner__isnull=True, members=user))
        .distinct()
    )


def send(notice: registry.Notice) -> str | None:
    """The kernel's channel: one delivery per robot reaching the recipient, unless they
    turned this kind off. Returns the label when something was queued."""
    user = notice.recipient
    if user is None or not getattr(user, "is_active", False) or not wants(user, notice.kind):
        return None
    targets = robots_of(user)
    if not targets:
        return None
    deliveries = Delivery.objects.bulk_create(
        [Delivery(robot=r, recipient=user, kind=notice.kind, text=notice.text) for r in targets]
    )
    ids = [d.pk for d in deliveries]
    transaction.on_commit(lambda: _enqueue(ids))
    return _("群机器人")


def _enqueue(ids: list[int]) -> None:
    from .tasks import deliver

    for pk in ids:
        try:
            deliver.delay(pk)
        except Exception as exc:  # the beat's resend_due picks it up
            logger.warning("通知 %s 未能排队：%s", pk, type(exc).__name__)
            return


def deliver(delivery_id: int) -> str:
    """Send one delivery (taken once however often the task is delivered)."""
    now = timezone.now()
    taken = update_if(
        Delivery,
        delivery_id,
        where={"status": Delivery.Status.PENDING},
        values={"status": Delivery.Status.SENDING, "progress_at": now},
    )
    if not taken:
        return "skipped"
    delivery = Delivery.objects.select_related("robot").get(pk=delivery_id)
    robot = delivery.robot
    attempts = delivery.attempts + 1
    try:
        robots.post(robot.kind, robot.webhook(), robot.secret(), delivery.text)
    except robots.RobotError as exc:
        failed = attempts >= settings.ROBOT_MAX_ATTEMPTS
        Delivery.objects.filter(pk=delivery_id).update(
            status=Delivery.Status.FAILED if failed else Delivery.Status.PENDING,
            attempts=attempts,
            error=exc.message[:300],
            next_attempt_at=now + dt.timedelta(minutes=2 ** (attempts - 1)),
        )
        logger.warning("通知 %s 发送到「%s」失败：%s", delivery_id, robot.name, exc.message)
        return "failed" if failed else "retry"
    Delivery.objects.filter(pk=delivery_id).update(
        status=Delivery.Status.SENT, attempts=attempts, error="", sent_at=timezone.now()
    )
    return "sent"


def resend_due(*, now: dt.datetime | None = None) -> int:
    """Beat: queue the deliveries whose next attempt is due (after a failure, or never
    queued), and free the ones a dead worker left 发送中."""
    now = now or timezone.now()
    stale = now - dt.timedelta(minutes=10)
    Delivery.objects.filter(status=Delivery.Status.SENDING, progress_at__lt=stale).update(
        status=Delivery.Status.PENDING
    )
    due = list(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=now
        ).values_list("pk", flat=True)[:500]
    )
    _enqueue(due)
    return len(due)


# --- people's settings -----------------------------------------------------------------------


def kinds_for(user: Any) -> list[registry.NoticeKind]:
    return [k for k in registry.notice_kinds() if not k.perm or has_perm(user, k.perm)]


def preferences(user: Any) -> list[tuple[registry.NoticeKind, bool]]:
    off = set(Preference.objects.filter(user=user, enabled=False).values_list("kind", flat=True))
    return [(k, k.code not in off) for k in kinds_for(user)]


@transaction.atomic
def preferences_set(*, user: Any, enabled: list[str]) -> None:
    """Turn on exactly the kinds in ``enabled`` (of those this person may receive)."""
    codes = {k.code for k in kinds_for(user)}
    unknown = sorted(set(enabled) - codes)
    if unknown:
        message = _("没有这种通知：%(k)s") % {"k": "、".join(unknown)}
        raise ValidationFailed(_("通知类型：%(m)s") % {"m": message}, fields={"kinds": [message]})
    for code in codes:
        Preference.objects.update_or_create(
            user=user, kind=code, defaults={"enabled": code in enabled}
        )


# --- robots (系统管理员) -----------------------------------------------------------------------


def _clean(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    name = str(data.get("name") or "").strip()
    if not name:
        errors["name"] = [_("请填写名称")]
    elif len(name) > 50:
        errors["name"] = [_("最多 50 个字符")]
    kind = str(data.get("kind") or "")
    if kind not in Robot.Kind.values:
        errors["kind"] = [_("请选择企业微信或钉钉")]
    webhook = str(data.get("webhook") or "").strip()
    if webhook or creating:
        parts = robots.urllib.parse.urlsplit(webhook)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(webhook) > 500:
            errors["webhook"] = [_("请填写机器人的 Webhook 地址（https://…）")]
    secret = str(data.get("secret") or "").strip()
    if len(secret) > 200:
        errors["secret"] = [_("最多 200 个字符")]
    if errors:
        labels = {
            "name": _("名称"),
            "kind": _("类型"),
            "webhook": _("Webhook 地址"),
            "secret": _("加签密钥"),
        }
        first = next(iter(errors))
        raise ValidationFailed(f"{labels[first]}：{errors[first][0]}", fields=errors)
    return {"name": name, "kind": kind, "webhook": webhook, "secret": secret}


@transaction.atomic
def robot_save(
    *, actor: Any, data: dict[str, Any], robot: Robot | None = None, members: list[Any] = ()
) -> Robot:
    """Create or change a robot. The webhook and the secret are write-only: empty keeps
    the stored ones when changing."""
    require_perm(actor, MANAGE)
    values = _clean(data, creating=robot is None)
    creating = robot is None
    robot = robot or Robot(created_by=actor)
    robot.name, robot.kind = values["name"], values["kind"]
    robot.is_active = bool(data.get("is_active", True))
    robot.owner = data.get("owner")
    if values["webhook"]:
        robot.set_webhook(values["webhook"])
    if values["secret"] or data.get("clear_secret"):
        robot.set_secret(values["secret"])
    robot.save()
    robot.members.set(members)
    audit.record(
        actor=actor,
        action="robot_create" if creating else "robot_update",
        obj=robot,
        message=_("%(a)s群机器人「%(n)s」（%(k)s）")
        % {
            "a": _("新建") if creating else _("修改"),
            "n": robot.name,
            "k": robot.get_kind_display(),
        },
    )
    return robot


def robot_test(*, actor: Any, robot: Robot) -> None:
    """发送测试消息, now (not queued): the admin sees at once whether it works."""
    require_perm(actor, MANAGE)
    try:
        robots.post(
            robot.kind,
            robot.webhook(),
            robot.secret(),
            _("【绘管家】测试消息：群机器人「%(n)s」已接入客户入驻平台") % {"n": robot.name},
        )
    except robots.RobotError as exc:
        raise ValidationFailed(exc.message) from None


def access_robot(actor: Any, pk: Any) -> Robot:
    require_perm(actor, MANAGE)
    robot = Robot.objects.filter(pk=pk).first()
    if robot is None:
        raise NotFound(_("群机器人不存在"))
    return robot


# --- announcing from the other apps ------------------------------------------------------------


def announce(*, kind: str, text: str, user_ids: list[int] | None = None, perm: str = "") -> None:
    """Tell people about something that happened, after the caller's transaction commits
    and from a worker — to ``user_ids``, or to every active member holding ``perm`` — through
    every channel (``core.registry.notify``). Never raises: a notice must not undo or
    delay the action it reports."""
    ids = sorted({int(pk) for pk in user_ids or [] if pk})
    if user_ids is not None and not ids:
        return

    def queue() -> None:
        from .tasks import fan_out

        try:
            fan_out.delay(kind, text, ids, perm)
        except Exception as exc:  # kombu's and the transports' own errors alike
            logger.warning("通知 %s 未能排队：%s", kind, type(exc).__name__)

    transaction.on_commit(queue)


def fan_out(kind: str, text: str, user_ids: list[int], perm: str = "") -> int:
    """The worker's part of ``announce``: each recipient's notice to every channel."""
    from django.contrib.auth import get_user_model

    people = get_user_model().objects.filter(is_active=True)
    people = people.filter(pk__in=user_ids) if user_ids else people
    sent = 0
    for user in people.order_by("pk"):
        if perm and not has_perm(user, perm):
            continue
        registry.notify(registry.Notice(user, kind, text))
        sent += 1
    return sent
