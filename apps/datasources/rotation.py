"""轮换账号: replace a tenant's database account and password without downtime.

A tenant's least-privilege account cannot create accounts, and no server keeps two
passwords on one account in a way both MySQL/MariaDB and PostgreSQL share — so the platform
alternates accounts (the "alternating users" rotation): devops gives a DBA account for the
server (used for this rotation only, its password kept encrypted until the old account is
retired, then erased). A worker then:

1. 连接管理账号 — the DBA account reaches the server;
2. 创建新账号 — ``tenant_app_r2`` with a generated password and the old account's grants
   (``tenantdb.accounts``);
3. 验证新账号 — the new account reads the tenant's schema version and creates, writes and
   drops a table in the tenant database;
4. 切换数据源 — one transaction: the current data source is kept as a
   ``RetiredDataSource`` (reason 轮换账号) and replaced by the next generation with the new
   account; the registry serves it from that commit.

The old account keeps working for ``ROTATION_GRACE_SECONDS`` — clients holding the old
credentials (a registry answer in cache, pooled connections) go on working — then the beat
retires it (dropped, or locked / made NOLOGIN where objects still belong to it). Any
failure before the switch drops the new account and leaves everything as it was. The
passwords never appear in a page, a log line, an audit row or a task argument.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.audit import services as audit
from apps.core import crypto
from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.core.permissions import require_perm
from apps.core.records import claim
from apps.customers.models import Customer
from apps.customers.services import registry_changed

from . import generations, tenantdb
from .models import CredentialRotation, DataSource, RetiredDataSource
from .provisioning import _Pipeline, _StepFailed, fail_job, failure_text, step_rows
from .selectors import MANAGE
from .services import allocate_names
from .tenantdb import TenantDBError
from .tenantdb.accounts import accounts_for, generate_password, rotated_username
from .validators import USERNAME_MAX

logger = logging.getLogger(__name__)

STEP_LABELS = {
    "admin": gettext_lazy("连接管理账号"),
    "create_account": gettext_lazy("创建新账号"),
    "verify": gettext_lazy("验证新账号"),
    "switch": gettext_lazy("切换数据源"),
    "cleanup": gettext_lazy("删除本次创建的账号"),
}
STEP_ORDER = ("admin", "create_account", "verify", "switch")


def rotation_request(
    *, actor, datasource: DataSource, admin_username: Any, admin_password: Any
) -> CredentialRotation:
    """Record and queue a rotation (422 naming the DBA account's fields; 409 while the
    tenant is being moved, cleared or rotated)."""
    require_perm(actor, MANAGE)
    username = str(admin_username or "").strip()
    password = admin_password if isinstance(admin_password, str) else ""
    errors: dict[str, list[str]] = {}
    if not username:
        errors["admin_username"] = [_("请填写数据库服务器的管理账号")]
    elif len(username) > USERNAME_MAX or any(c in username for c in "'\"`\\\x00"):
        errors["admin_username"] = [_("账号格式不正确")]
    if len(password) > 256 or "\x00" in password:
        errors["admin_password"] = [_("密码格式不正确")]
    if errors:
        labels = {"admin_username": _("管理账号"), "admin_password": _("管理账号密码")}
        raise ValidationFailed(
            "；".join(f"{labels[k]}：{v[0]}" for k, v in errors.items()), fields=errors
        )
    from .relocation import ensure_no_table_work

    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=datasource.customer_id)
        ds = DataSource.objects.filter(pk=datasource.pk).first()
        if ds is None:
            raise NotFound(_("数据源不存在"))
        ensure_no_table_work(ds)
        name, _database = allocate_names(customer)
        rotation = CredentialRotation.objects.create(
            customer=customer,
            source=ds,
            source_name=ds.name,
            name=name,
            old_username=ds.username,
            new_username=rotated_username(ds.username, ds.generation + 1),
            admin_username=username,
            admin_secret_encrypted=crypto.encrypt(password),
            started_by=actor,
        )
        audit.record(
            actor=actor,
            action="datasource_rotate",
            obj=customer,
            message=_("申请轮换数据源 %(n)s 的账号：%(o)s → %(u)s（管理账号 %(a)s）")
            % {"n": ds.name, "o": ds.username, "u": rotation.new_username, "a": username},
        )
        transaction.on_commit(lambda: _enqueue(rotation))
    return rotation


def _enqueue(rotation: CredentialRotation) -> None:
    from .tasks import rotate_credentials

    try:
        rotate_credentials.delay(rotation.pk)
    except Exception as exc:  # kombu's and the transports' own errors alike
        _fail(rotation, _("任务队列暂时不可用，未能排队（%(e)s）") % {"e": type(exc).__name__})


def _admin_target(rotation: CredentialRotation, ds: Any) -> tenantdb.Target:
    database = "" if ds.db_type == tenantdb.MYSQL else settings.TENANT_PG_MAINTENANCE_DB
    return tenantdb.Target(
        ds.db_type,
        ds.host,
        ds.port,
        rotation.admin_username,
        crypto.decrypt(rotation.admin_secret_encrypted),
        database,
    )


def run_rotation(rotation_id: int) -> CredentialRotation | None:
    """What the worker does with a queued rotation (taken once)."""
    rotation = claim(
        CredentialRotation,
        rotation_id,
        status=CredentialRotation.Status.QUEUED,
        to=CredentialRotation.Status.RUNNING,
        related=("customer", "source", "started_by"),
    )
    if rotation is None:
        return None
    ds = rotation.source
    if ds is None:
        _fail(rotation, _("原数据源已不存在"))
        return CredentialRotation.objects.get(pk=rotation_id)
    pipeline = _Pipeline(rotation, labels=STEP_LABELS)
    password = generate_password()
    created = switched = False
    try:
        with tenantdb.connector_for(_admin_target(rotation, ds)) as admin:
            with pipeline.step("admin") as entry:
                admin.server_facts()
                entry["message"] = _("已用管理账号 %(a)s 连接 %(s)s") % {
                    "a": rotation.admin_username,
                    "s": ds.address,
                }
            with pipeline.step("create_account") as entry:
                accounts_for(admin).clone(rotation.old_username, rotation.new_username, password)
                created = True
                entry["message"] = _("已创建账号 %(u)s，权限与 %(o)s 相同") % {
                    "u": rotation.new_username,
                    "o": rotation.old_username,
                }
            new_target = tenantdb.Target(
                ds.db_type, ds.host, ds.port, rotation.new_username, password, ds.database
            )
            with pipeline.step("verify") as entry, tenantdb.connector_for(new_target) as c:
                state = c.schema_state(ds.database)
                c.verify(ds.database)
                entry["message"] = _("新账号可以读取版本记录，并在 %(d)s 中建表、写入和删除") % {
                    "d": ds.database
                }
            with pipeline.step("switch") as entry:
                new = _switch(rotation, ds, password, state)
                switched = True
                entry["message"] = _("租户注册表已改为新账号 %(u)s") % {"u": new.username}
    except BaseException as exc:
        if switched:  # rotated; only recording the step failed (the reaper finishes it)
            raise
        if created:
            with contextlib.suppress(Exception), pipeline.step("cleanup") as entry:
                with tenantdb.connector_for(_admin_target(rotation, ds)) as admin:
                    accounts_for(admin).drop(rotation.new_username)
                entry["message"] = _("已删除新账号 %(u)s") % {"u": rotation.new_username}
        _fail(rotation, _step_failure(pipeline, exc))
        if not isinstance(exc, _StepFailed | TenantDBError | Conflict):
            raise
        return CredentialRotation.objects.get(pk=rotation_id)
    grace = timezone.now() + dt.timedelta(seconds=settings.ROTATION_GRACE_SECONDS)
    CredentialRotation.objects.filter(pk=rotation.pk).update(
        status=CredentialRotation.Status.SWITCHED,
        grace_until=grace,
        datasource=new,
        message=_("已切换到新账号 %(u)s；旧账号 %(o)s 保留至 %(t)s")
        % {
            "u": rotation.new_username,
            "o": rotation.old_username,
            "t": timezone.localtime(grace).strftime("%Y-%m-%d %H:%M"),
        },
    )
    logger.info("数据源 %s 已轮换账号为 %s", ds.name, rotation.new_username)
    return CredentialRotation.objects.get(pk=rotation_id)


def _switch(
    rotation: CredentialRotation, ds: DataSource, password: str, state: tenantdb.SchemaState
) -> DataSource:
    """The next generation: the same database, the new account, in one transaction."""
    with transaction.atomic():
        new, retired = generations.replace(
            customer_id=rotation.customer_id,
            expected=ds,
            new=DataSource(
                name=rotation.name,
                database=ds.database,
                db_type=ds.db_type,
                host=ds.host,
                port=ds.port,
                username=rotation.new_username,
                max_connections=ds.max_connections,
                min_connections=ds.min_connections,
                remarks=ds.remarks,
                database_created=ds.database_created,
                server_version=ds.server_version,
            ),
            password=password,
            reason=RetiredDataSource.Reason.ROTATION,
            actor=rotation.started_by,
            state=state,
            keep_secret=False,  # nothing probes the old account: it is retired by the DBA's
        )
        CredentialRotation.objects.filter(pk=rotation.pk).update(datasource=new)
        audit.record(
            actor=rotation.started_by,
            action="datasource_rotated",
            obj=new.customer,
            message=_(
                "数据源 %(o)s 的账号 %(ou)s 已轮换为 %(n)s 的账号 %(nu)s；旧账号保留 %(g)s 秒"
            )
            % {
                "o": retired.name,
                "ou": retired.username,
                "n": new.name,
                "nu": new.username,
                "g": settings.ROTATION_GRACE_SECONDS,
            },
        )
        registry_changed([new.customer_id])
    return new


def _switched(rotation: CredentialRotation) -> None:
    """Record a rotation as switched, its old account kept for the grace period."""
    grace = timezone.now() + dt.timedelta(seconds=settings.ROTATION_GRACE_SECONDS)
    CredentialRotation.objects.filter(pk=rotation.pk).update(
        status=CredentialRotation.Status.SWITCHED,
        grace_until=grace,
        message=_("已切换到新账号 %(u)s；旧账号 %(o)s 保留至 %(t)s")
        % {
            "u": rotation.new_username,
            "o": rotation.old_username,
            "t": timezone.localtime(grace).strftime("%Y-%m-%d %H:%M"),
        },
    )


def reap_stale(*, now: dt.datetime | None = None) -> int:
    """A rotation whose worker died (no progress for ``PROVISIONING_STALE_AFTER``): switched
    if it had switched, else failed with the new account dropped when reachable."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.PROVISIONING_STALE_AFTER)
    reaped = 0
    for rotation in CredentialRotation.objects.filter(
        status=CredentialRotation.Status.RUNNING, progress_at__lt=cutoff
    ).select_related("customer", "source", "started_by"):
        if rotation.datasource_id is not None:
            _switched(rotation)
        else:
            if rotation.source is not None and rotation.admin_secret_encrypted:
                with (
                    contextlib.suppress(TenantDBError),
                    tenantdb.connector_for(_admin_target(rotation, rotation.source)) as admin,
                ):
                    accounts_for(admin).drop(rotation.new_username)
            _fail(rotation, _("执行中断（工作进程退出）。数据源与账号保持不变"))
        reaped += 1
    return reaped


def retire_due(*, now: dt.datetime | None = None) -> int:
    """Beat: retire the old accounts whose grace is over; a server that cannot be reached
    is tried again next time. Returns how many were retired."""
    now = now or timezone.now()
    retired = 0
    for rotation in CredentialRotation.objects.filter(
        status=CredentialRotation.Status.SWITCHED, grace_until__lte=now
    ).select_related("customer", "datasource", "started_by"):
        try:
            retire(rotation)
        except TenantDBError as exc:
            logger.warning("旧账号 %s 未能停用：%s", rotation.old_username, exc.message)
            continue
        retired += 1
    return retired


def retire(rotation: CredentialRotation) -> str:
    """Retire the old account now (its grace is over), erase the DBA's password."""
    old = RetiredDataSource.objects.get(customer=rotation.customer_id, name=rotation.source_name)
    with tenantdb.connector_for(_admin_target(rotation, old)) as admin:
        note = accounts_for(admin).retire(rotation.old_username, rotation.new_username)
    with transaction.atomic():
        updated = CredentialRotation.objects.filter(
            pk=rotation.pk, status=CredentialRotation.Status.SWITCHED
        ).update(
            status=CredentialRotation.Status.DONE,
            retired_note=note[:500],
            admin_secret_encrypted="",
            finished_at=timezone.now(),
        )
        if updated:
            RetiredDataSource.objects.filter(
                customer=rotation.customer, name=rotation.source_name
            ).update(removed_at=timezone.now(), removal_note=note[:500])
            audit.record(
                actor=None,
                action="datasource_rotation_done",
                obj=rotation.customer,
                message=_("轮换账号宽限期结束：%(m)s") % {"m": note},
            )
    return note


def _step_failure(pipeline: _Pipeline, exc: BaseException) -> str:
    return failure_text(
        pipeline,
        exc,
        STEP_ORDER,
        STEP_LABELS,
        cleanup_failed=_("删除新账号未完成：%(m)s，请 DBA 手工处理"),
        outcome=_("数据源与账号保持不变"),
    )


def _fail(rotation: CredentialRotation, message: str) -> None:
    fail_job(
        rotation,
        message,
        secret_field="admin_secret_encrypted",
        action="datasource_rotate_failed",
        what=_("轮换数据源 %(n)s 的账号失败") % {"n": rotation.source_name},
    )


def rotation_progress(rotation: CredentialRotation) -> list[dict[str, Any]]:
    """The steps as the console and the API show them (see ``provisioning.step_rows``)."""
    return step_rows(
        rotation.steps or [],
        STEP_ORDER,
        STEP_LABELS,
        running=rotation.status == CredentialRotation.Status.RUNNING,
        active=rotation.active,
    )
