"""租户库升级 (fleet migration): bring tenant databases to a target schema version.

``plan`` says which tenants are behind, grouped by server, with what will run and each
server's parallelism cap; ``rollout_start`` records the plan and hands it to the workers.
``dispatch`` (a task) claims the next tenants while keeping every server under its cap —
the canary set (wave 0) first, then the waves in order — and queues ``migrate_tenant`` for
each, which goes on with its server's next tenants of the wave; a tenant's failure is
recorded with its cause and stops nothing else, except that a failed canary pauses the
rollout for a person to look.

A server's cap comes from its connection budget: what its ``max_connections`` leaves
after the pools of every data source configured on it, never more than
``FLEET_MAX_PER_SERVER``, never less than one. A migration holds exactly one connection
to its tenant's server and closes it when done.

Drifted tenants (a checksum that differs from its file) are skipped and reported, never
"fixed". 已上线 tenants are migrated only by a rollout that includes them explicitly, and
never as its canary.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from apps.audit import services as audit
from apps.core.errors import Conflict, ErrorCode, NotFound, ValidationFailed
from apps.core.permissions import require_perm
from apps.core.records import update_each, update_if

from . import schemas, tenantdb
from .models import DataSource, Rollout, RolloutTenant, TenantSchema
from .provisioning import announce_failure
from .selectors import MANAGE, normalise_host, pools_configured_on
from .tenantdb import TenantDBError

logger = logging.getLogger(__name__)

Status = RolloutTenant.Status
CANARY_FAILED = _lazy("金丝雀有租户升级失败，已暂停：请查看原因，修复后重试，或确认后继续")


def server_key(host: str, port: int) -> str:
    host = normalise_host(host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- The plan --------------------------------------------------------------------------------


@dataclass
class PlannedTenant:
    datasource: DataSource
    from_version: str  # "" when never read
    known: bool
    online: bool
    server: str
    pending: list[tenantdb.Migration]
    wave: int = 1


@dataclass
class ServerPlan:
    server: str
    cap: int
    max_connections: int | None
    pools_configured: int
    note: str = ""
    tenants: list[PlannedTenant] = field(default_factory=list)


@dataclass
class Plan:
    target: str
    include_online: bool
    canary_size: int
    wave_size: int
    servers: list[ServerPlan]
    skipped: list[tuple[DataSource, str]]
    up_to_date: int

    @property
    def tenants(self) -> list[PlannedTenant]:
        planned = [t for s in self.servers for t in s.tenants]
        return sorted(planned, key=lambda t: (t.wave, t.datasource.pk))

    @property
    def waves(self) -> int:
        return max((t.wave for t in self.tenants), default=0)

    @property
    def canary(self) -> list[PlannedTenant]:
        return [t for t in self.tenants if t.wave == 0]


def versions_available() -> list[str]:
    """Every version a rollout may target (those of either server type's files)."""
    found = {m.version for db_type in schemas.DB_TYPES for m in tenantdb.migrations(db_type)}
    return sorted(found)


def plan(
    *,
    target: str,
    include_online: bool = False,
    canary_size: int = 2,
    wave_size: int = 50,
    read_servers: bool = True,
) -> Plan:
    """Which tenants a rollout to ``target`` would migrate, and how. Reads the versions
    the platform last saw (``TenantSchema``) — each tenant's real state is read again when
    it is migrated — and, with ``read_servers``, each server's ``max_connections`` (one
    short connection per server). Writes nothing anywhere."""
    target = (target or "").strip()
    if target not in versions_available():
        raise ValidationFailed(
            _("没有版本 %(v)s 的迁移文件") % {"v": target or "—"},
            fields={"target": [_("请选择迁移文件中已有的版本")]},
        )
    if canary_size < 0 or wave_size < 1:
        raise ValidationFailed(
            _("金丝雀数量不能为负，每批数量至少为 1"),
            fields={"canary_size": [_("不能为负")], "wave_size": [_("至少为 1")]},
        )
    files = {db_type: tenantdb.migrations(db_type) for db_type in schemas.DB_TYPES}
    known = {s.datasource_id: s for s in TenantSchema.objects.all()}
    by_server: dict[str, list[PlannedTenant]] = defaultdict(list)
    skipped: list[tuple[DataSource, str]] = []
    up_to_date = 0
    for ds in DataSource.objects.select_related("customer").order_by("pk"):
        schema = known.get(ds.pk)
        version = schema.version if schema and schema.checked_at else ""
        type_files = files.get(ds.db_type, [])
        if target not in {m.version for m in type_files}:
            reason = _("%(t)s 没有版本 %(v)s 的迁移文件") % {
                "t": ds.get_db_type_display(),
                "v": target,
            }
            skipped.append((ds, reason))
            continue
        if schema and schema.drift:
            skipped.append((ds, _("版本漂移：%(d)s") % {"d": schema.drift_lines[0]}))
            continue
        if schema and schema.checked_at and version >= target:
            up_to_date += 1
            continue
        online = ds.impl_status == DataSource.ImplStatus.ONLINE
        if online and not include_online:
            skipped.append((ds, _("已上线（本次升级未包含已上线租户）")))
            continue
        key = server_key(ds.host, ds.port)
        pending = [m for m in type_files if version < m.version <= target]
        seen = bool(schema and schema.checked_at)
        by_server[key].append(PlannedTenant(ds, version, seen, online, key, pending))
    servers = [
        _server_plan(key, tenants, read_servers) for key, tenants in sorted(by_server.items())
    ]
    result = Plan(target, include_online, canary_size, wave_size, servers, skipped, up_to_date)
    _assign_waves(result)
    return result


def _server_plan(key: str, tenants: list[PlannedTenant], read: bool) -> ServerPlan:
    first = tenants[0].datasource
    pools = pools_configured_on(first.host, first.port)
    limit = int(settings.FLEET_MAX_PER_SERVER)
    if not read:
        return ServerPlan(key, min(limit, 1), None, pools, _("未读取服务器连接上限"), tenants)
    try:
        with tenantdb.connector_for(tenantdb.Target.of(first)) as connector:
            server_max = int(connector.server_facts()["max_connections"])
    except TenantDBError as exc:
        return ServerPlan(
            key,
            1,
            None,
            pools,
            _("无法读取连接上限（%(m)s），逐个升级") % {"m": exc.message},
            tenants,
        )
    headroom = server_max - pools
    cap = max(1, min(limit, headroom))
    note = "" if headroom >= 1 else _("连接预算已用满，逐个升级")
    return ServerPlan(key, cap, server_max, pools, note, tenants)


def _assign_waves(result: Plan) -> None:
    """Wave 0: the canary, never 已上线, spread over the servers; then waves of
    ``wave_size``, tenants not yet online first."""
    queues = [[t for t in s.tenants if not t.online] for s in result.servers]
    canary: list[PlannedTenant] = []
    while len(canary) < result.canary_size and any(queues):
        for queue in queues:
            if queue and len(canary) < result.canary_size:
                canary.append(queue.pop(0))
    for tenant in canary:
        tenant.wave = 0
    rest = sorted(
        (t for s in result.servers for t in s.tenants if t.wave != 0 or t not in canary),
        key=lambda t: (t.online, t.datasource.pk),
    )
    rest = [t for t in rest if t not in canary]
    for i, tenant in enumerate(rest):
        tenant.wave = 1 + i // result.wave_size
    if result.include_online and any(t.online for t in rest) and not canary:
        raise ValidationFailed(
            _("包含已上线租户的升级需要先在未上线的租户上试行（金丝雀），但没有可用的未上线租户"),
            fields={"canary_size": [_("至少为 1，且需要有未上线的租户")]},
        )


# --- Starting and steering -----------------------------------------------------------------


def rollout_start(
    *,
    actor,
    target: str,
    include_online: bool = False,
    canary_size: int = 2,
    wave_size: int = 50,
    by_command: bool = False,
) -> Rollout:
    """Record the plan as a rollout and hand it to the workers. One rollout at a time
    (409 while another is 进行中 or 已暂停). ``by_command``: started from
    ``manage.py migrate_tenants`` by whoever runs the server (no console user)."""
    if not by_command:
        require_perm(actor, MANAGE)
    result = plan(
        target=target,
        include_online=include_online,
        canary_size=canary_size,
        wave_size=wave_size,
    )
    with transaction.atomic():
        if Rollout.objects.select_for_update().exclude(status=Rollout.Status.FINISHED).exists():
            raise Conflict(
                _("已有租户库升级在进行或暂停中，请先完成它"), code=ErrorCode.ROLLOUT_IN_PROGRESS
            )
        rollout = Rollout.objects.create(
            target_version=result.target,
            include_online=include_online,
            canary_size=canary_size,
            wave_size=wave_size,
            server_caps={s.server: s.cap for s in result.servers},
            created_by=actor,
        )
        RolloutTenant.objects.bulk_create(
            RolloutTenant(
                rollout=rollout,
                datasource=t.datasource,
                name=t.datasource.name,
                db_type=t.datasource.db_type,
                server=t.server,
                online=t.online,
                wave=t.wave,
                from_version=t.from_version,
            )
            for t in result.tenants
        )
        audit.record(
            actor=actor,
            action="tenant_rollout_start",
            obj=rollout,
            message=_("发起租户库升级至 %(v)s：%(n)d 个租户，%(s)d 台服务器，金丝雀 %(c)d 个")
            % {
                "v": result.target,
                "n": len(result.tenants),
                "s": len(result.servers),
                "c": len(result.canary),
            },
        )
        transaction.on_commit(lambda: _queue_dispatch(rollout.pk))
    return rollout


def _queue_dispatch(rollout_id: int) -> None:
    from .tasks import rollout_dispatch

    rollout_dispatch.delay(rollout_id)


def rollout_pause(*, actor, rollout_id: int) -> Rollout:
    """暂停: tenants under way finish; no new one starts."""
    return _steer(actor, rollout_id, "pause")


def rollout_resume(*, actor, rollout_id: int) -> Rollout:
    """继续: a paused rollout goes on (also after a failed canary, on a person's word)."""
    return _steer(actor, rollout_id, "resume")


def rollout_retry_failed(*, actor, rollout_id: int) -> Rollout:
    """重试失败的租户: they are queued again (a finished rollout runs again for them)."""
    return _steer(actor, rollout_id, "retry")


def _steer(actor, rollout_id: int, what: str) -> Rollout:
    require_perm(actor, MANAGE)
    count = 0
    with transaction.atomic():
        rollout = Rollout.objects.select_for_update().filter(pk=rollout_id).first()
        if rollout is None:
            raise NotFound(_("租户库升级不存在"))
        if what == "pause":
            if rollout.status != Rollout.Status.RUNNING:
                raise Conflict(_("只有进行中的升级可以暂停"), code=ErrorCode.INVALID_TRANSITION)
            rollout.status, rollout.message = Rollout.Status.PAUSED, _("已手动暂停")
            message = _("暂停租户库升级至 %(v)s")
        elif what == "resume":
            if rollout.status != Rollout.Status.PAUSED:
                raise Conflict(_("只有暂停的升级可以继续"), code=ErrorCode.INVALID_TRANSITION)
            # Going on past a failed canary is this person's decision, and recorded.
            if rollout.tenants.filter(wave=0, status=Status.FAILED).exists():
                rollout.canary_accepted = True
            rollout.status, rollout.message = Rollout.Status.RUNNING, ""
            message = _("继续租户库升级至 %(v)s")
        else:
            failed = rollout.tenants.filter(status=Status.FAILED)
            count = failed.update(status=Status.PENDING, message="", finished_at=None)
            if not count:
                raise Conflict(_("没有失败的租户需要重试"), code=ErrorCode.INVALID_TRANSITION)
            if rollout.status == Rollout.Status.FINISHED:
                rollout.finished_at = None
            rollout.status, rollout.message = Rollout.Status.RUNNING, ""
            message = _("重试租户库升级至 %(v)s 中失败的 %(n)d 个租户")
        rollout.save(update_fields=["status", "message", "finished_at", "canary_accepted"])
        audit.record(
            actor=actor,
            action=f"tenant_rollout_{what}",
            obj=rollout,
            message=message % {"v": rollout.target_version, "n": count if what == "retry" else 0},
        )
        if rollout.status == Rollout.Status.RUNNING:
            transaction.on_commit(lambda: _queue_dispatch(rollout.pk))
    return rollout


# --- What the workers do -------------------------------------------------------------------
#
# Only ``dispatch`` adds lanes — a lane is a worker going through one server's tenants one
# at a time, on one connection — and it counts and claims under the rollout's row lock: a
# server's cap holds across any number of workers. A lane has exactly one tenant 进行中 in
# the control database from its start to its end, so the count of 进行中 per server is the
# number of lanes on it. A lane takes (已领取) the same server's next waiting tenants of
# the same wave a few at a time — as many as it does in about ``RECORD_AFTER`` seconds, at
# most ``RECORD_EVERY`` — and records what it did in one transaction every
# ``RECORD_AFTER`` seconds or when it takes more, marking the tenant it is on 进行中: a
# commit per batch, not per tenant, and progress never more than that behind. Before its
# last results it closes its connection, so the slot is given back only once it is free.
# Every claim is a conditional UPDATE (``status = pending``): a tenant is claimed once.
RECORD_EVERY = 20
RECORD_AFTER = 0.5


def dispatch(rollout_id: int) -> list[int]:
    """Claim the next tenants of a running rollout, within every server's cap and the
    current wave, and queue their migrations; finish the rollout when nothing is left.
    Safe to run at any time and from several workers (the rollout's row is locked)."""
    from .tasks import migrate_tenant as migrate_task

    claimed: list[int] = []
    with transaction.atomic():
        rollout = Rollout.objects.select_for_update().filter(pk=rollout_id).first()
        if rollout is None or rollout.status != Rollout.Status.RUNNING:
            return []
        tenants = rollout.tenants
        open_waves = sorted(
            set(tenants.exclude(status__in=RolloutTenant.DONE).values_list("wave", flat=True))
        )
        if not open_waves:
            _finish(rollout)
            return []
        wave = open_waves[0]
        canary_failed = tenants.filter(wave=0, status=Status.FAILED).exists()
        if wave > 0 and canary_failed and not rollout.canary_accepted:
            rollout.status = Rollout.Status.PAUSED
            rollout.message = CANARY_FAILED
            rollout.save(update_fields=["status", "message"])
            audit.record(
                actor=None, action="tenant_rollout_pause", obj=rollout, message=rollout.message
            )
            announce_failure(
                rollout.created_by,
                _("租户库升级至 %(v)s 已暂停") % {"v": rollout.target_version},
                rollout.message,
            )
            return []
        running = dict(
            tenants.filter(status=Status.RUNNING)
            .values_list("server")
            .annotate(n=Count("id"))
            .values_list("server", "n")
        )
        now = timezone.now()
        waiting = tenants.filter(wave=wave, status=Status.PENDING).order_by("id")
        for pk, server in waiting.values_list("pk", "server"):
            if running.get(server, 0) >= int(rollout.server_caps.get(server, 1)):
                continue
            if _claim(pk, now):  # a worker's hand-over may have taken it meanwhile
                running[server] = running.get(server, 0) + 1
                claimed.append(pk)
        transaction.on_commit(lambda: [migrate_task.delay(pk) for pk in claimed])
    return claimed


def _claim(tenant_id: int, now: dt.datetime) -> bool:
    """Claim a waiting tenant; False when someone else did first."""
    return update_if(
        RolloutTenant,
        tenant_id,
        where={"status": Status.PENDING},
        values={"status": Status.RUNNING, "started_at": now},
    )


def _finish(rollout: Rollout) -> None:
    counts = dict(rollout.tenants.values_list("status").annotate(n=Count("id")))
    rollout.status = Rollout.Status.FINISHED
    rollout.finished_at = timezone.now()
    rollout.message = _("成功 %(s)d，失败 %(f)d，跳过 %(k)d") % {
        "s": counts.get(Status.SUCCEEDED, 0),
        "f": counts.get(Status.FAILED, 0),
        "k": counts.get(Status.SKIPPED, 0),
    }
    rollout.save(update_fields=["status", "finished_at", "message"])
    audit.record(
        actor=None,
        action="tenant_rollout_finish",
        obj=rollout,
        message=_("租户库升级至 %(v)s 结束：%(m)s") % {
            "v": rollout.target_version, "m": rollout.message,
        },
    )  # fmt: skip
    if counts.get(Status.FAILED):
        announce_failure(
            rollout.created_by,
            _("租户库升级至 %(v)s 结束，有租户失败") % {"v": rollout.target_version},
            rollout.message,
        )
    logger.info("租户库升级 %s 结束：%s", rollout.pk, rollout.message)


def migrate_tenant(tenant_id: int) -> str:
    """Migrate a claimed tenant, then go on as its server's lane: claim the same server's
    next waiting tenant of the same wave, and the next, in this task — no trip through the
    queue per tenant; finally let ``dispatch`` start the next wave or finish the rollout.
    Returns the first tenant's status."""
    tenant = _load(tenant_id)
    rollout_id, status = tenant.rollout_id, tenant.status
    if status == Status.RUNNING:  # else a second delivery of the task: nothing to do
        status = _lane(tenant)
    transaction.on_commit(lambda: _queue_dispatch(rollout_id))
    return status


def _lane(tenant: RolloutTenant) -> str:
    connections = _Connections()
    line = _Line(tenant)
    done: list[tuple[RolloutTenant, _Outcome]] = []
    first = ""
    recorded = time.monotonic()
    current: RolloutTenant | None = tenant
    try:
        while current is not None:
            outcome = _migrate(current, connections)
            first = first or outcome.status
            done.append((current, outcome))
            due = time.monotonic() - recorded >= RECORD_AFTER
            current = line.next(refill=due)
            if current is None:
                connections.close()  # before the last results give the slot back
            if current is None or due or line.refilled:
                _record(done, running=current)
                done, recorded = [], time.monotonic()
    finally:
        connections.close()
        line.give_back()
    return first


class _Line:
    """A lane's next tenants: the same server's waiting tenants of the same wave, taken
    (已领取) a few at a time in one transaction and worked through in order. How many: what
    the lane does in about ``RECORD_AFTER`` seconds. Whether the rollout still runs is read
    with each take: a pause stops new tenants within that time, and what was taken goes
    back to 等待."""

    def __init__(self, tenant: RolloutTenant) -> None:
        self.rollout_id = tenant.rollout_id
        self.waiting = RolloutTenant.objects.filter(
            rollout_id=tenant.rollout_id,
            wave=tenant.wave,
            server=tenant.server,
            status=Status.PENDING,
        ).order_by("id")
        self.taken: list[RolloutTenant] = []
        self.taken_at = 0.0
        self.started = time.monotonic()
        self.count = 0
        self.refilled = False
        self.stopped = False

    def next(self, *, refill: bool) -> RolloutTenant | None:
        """The tenant to do next (taking more when none is left, or when ``refill`` and
        the rollout may have been paused meanwhile), or None: the lane ends."""
        self.count += 1
        self.refilled = False
        if self.stopped:
            return None
        if refill or not self.taken:
            self._take()
        if not self.taken:
            return None
        following = self.taken.pop(0)
        # Taken long ago (slow tenants before it): make sure it is still ours — the reaper
        # gives back what was taken FLEET_STALE_AFTER ago — and say so again.
        if time.monotonic() - self.taken_at > settings.FLEET_STALE_AFTER / 2 and not update_if(
            RolloutTenant, following.pk, where={"status": Status.QUEUED},
            values={"started_at": timezone.now()},
        ):  # fmt: skip
            self.count -= 1
            return self.next(refill=True)
        return following

    def _take(self) -> None:
        per_tenant = (time.monotonic() - self.started) / max(self.count, 1)
        want = max(1, min(RECORD_EVERY, int(RECORD_AFTER / max(per_tenant, 1e-3))))
        now = timezone.now()
        with transaction.atomic():
            if not Rollout.objects.filter(
                pk=self.rollout_id, status=Rollout.Status.RUNNING
            ).exists():
                self.stopped = True
                self._give_back()
                return
            more = want - len(self.taken)
            if more <= 0:
                return
            got: list[int] = []
            for pk in self.waiting.values_list("pk", flat=True)[: more * 2]:
                if len(got) == more:
                    break
                if update_if(
                    RolloutTenant, pk, where={"status": Status.PENDING},
                    values={"status": Status.QUEUED, "started_at": now},
                ):  # fmt: skip
                    got.append(pk)
        self.refilled = True
        if not self.taken:
            self.taken_at = time.monotonic()  # when the oldest of those held was taken
        if got:
            rows = RolloutTenant.objects.select_related("rollout", "datasource").in_bulk(got)
            self.taken += [rows[pk] for pk in got if pk in rows]

    def _give_back(self) -> None:
        for tenant in self.taken:
            update_if(
                RolloutTenant, tenant.pk, where={"status": Status.QUEUED},
                values={"status": Status.PENDING, "started_at": None},
            )  # fmt: skip
        self.taken = []

    def give_back(self) -> None:
        """Return what was taken and not done (the lane ends early: paused, or an error;
        if the control database is what failed, the reaper returns them later)."""
        if not self.taken:
            return
        try:
            with transaction.atomic():
                self._give_back()
        except Exception:
            logger.warning("租户库升级：未能退回 %d 个已领取的租户", len(self.taken))


def migrate_one(tenant_id: int, connections: _Connections | None = None) -> str:
    """Bring one claimed tenant to the rollout's target and record the result (no lane:
    nothing more is claimed); its status. A tenant not 进行中 is left alone."""
    tenant = _load(tenant_id)
    if tenant.status != Status.RUNNING:
        return tenant.status
    own = connections is None
    connections = connections or _Connections()
    try:
        outcome = _migrate(tenant, connections)
    finally:
        if own:
            connections.close()
    _record([(tenant, outcome)])
    return outcome.status


def _load(tenant_id: int) -> RolloutTenant:
    return RolloutTenant.objects.select_related("rollout", "datasource").get(pk=tenant_id)


class _Connections:
    """The tenant connections of one worker's run of a rollout — at most one per server:
    a MySQL connection is reused for the next tenant of the same server and account (it
    names the database in every statement); a PostgreSQL connection belongs to one
    database and is closed when that tenant is done. A connection that failed is never
    reused, and everything is closed at the end."""

    def __init__(self) -> None:
        self._open: dict[str, tenantdb.Connector] = {}

    def get(self, ds: DataSource) -> tenantdb.Connector:
        key = server_key(ds.host, ds.port)
        # The account, not the database: each method names its database.
        target = dataclasses.replace(tenantdb.Target.of(ds), database="")
        connector = self._open.get(key)
        if connector is not None and connector.target != target:
            connector.close()  # another account on this server
            connector = None
        if connector is None:
            connector = self._open[key] = tenantdb.connector_for(target)
        return connector

    def done(self, ds: DataSource, *, ok: bool) -> None:
        key = server_key(ds.host, ds.port)
        connector = self._open.get(key)
        if connector is None:
            return
        if ok:
            connector.close_database(ds.database)
        else:
            connector.close()
            del self._open[key]

    def close(self) -> None:
        for connector in self._open.values():
            connector.close()
        self._open.clear()


class _Skip(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _step(version: str, name: str, t0: float, error: str = "") -> dict[str, Any]:
    return {
        "version": version,
        "name": name,
        "status": "failed" if error else "ok",
        "ms": int((time.monotonic() - t0) * 1000),
        "message": error,
    }


@dataclass
class _Outcome:
    status: str
    message: str
    version: str
    steps: list[dict[str, Any]]
    ms: int
    state: tenantdb.SchemaState | None = None  # what to record as the tenant's schema
    error: str = ""  # or why it could not be read


def _migrate(tenant: RolloutTenant, connections: _Connections) -> _Outcome:
    """The tenant database's part: read its state, adopt it if it predates versioning,
    apply what it lacks, each migration timed. Writes nothing to the control database."""
    rollout, ds = tenant.rollout, tenant.datasource
    steps: list[dict[str, Any]] = []
    version, state, error = tenant.from_version, None, ""
    started = time.monotonic()
    try:
        if ds is None:
            raise _Skip(_("数据源已删除"))
        files = [m for m in tenantdb.migrations(ds.db_type) if m.version <= rollout.target_version]
        connector = connections.get(ds)
        try:
            state = connector.schema_state(ds.database)
            comparison = tenantdb.compare(state, files, rollout.target_version)
            version = comparison.current
            if comparison.drifted:
                raise _Skip(_("版本漂移，未升级：%(d)s") % {"d": "；".join(comparison.drift)})
            if not comparison.adopted:
                t0 = time.monotonic()
                connector.adopt(ds.database, files)
                steps.append(_step("adopt", _("纳入版本管理（补充校验和）"), t0))
            for migration in comparison.pending:
                t0 = time.monotonic()
                try:
                    connector.apply_migration(ds.database, migration)
                except TenantDBError as exc:
                    steps.append(_step(migration.version, migration.name, t0, exc.message))
                    raise
                steps.append(_step(migration.version, migration.name, t0))
        except _Skip:
            connections.done(ds, ok=True)
            raise
        except BaseException:
            connections.done(ds, ok=False)
            raise
        connections.done(ds, ok=True)
        state = tenantdb.versions.after_applying(state, files, comparison.pending)
        version = state.current
        status = Status.SUCCEEDED
        message = (
            _("已是目标版本")
            if not comparison.pending
            else _("%(a)s → %(b)s，%(n)d 个迁移")
            % {"a": comparison.current or "—", "b": version, "n": len(comparison.pending)}
        )
    except _Skip as exc:
        status, message = Status.SKIPPED, exc.message
    except TenantDBError as exc:
        status, message, state, error = Status.FAILED, exc.message, None, exc.message
    except Exception as exc:  # recorded, never lost: the rollout goes on
        logger.exception("租户库升级 %s 出错", tenant.name)
        status, message = Status.FAILED, _("内部错误（%(e)s）") % {"e": type(exc).__name__}
        state = None
    ms = int((time.monotonic() - started) * 1000)
    return _Outcome(status, message, version, steps, ms, state, error)


def _record(
    done: list[tuple[RolloutTenant, _Outcome]], running: RolloutTenant | None = None
) -> None:
    """Record tenants' results, their schemas and their audit rows — and mark ``running``
    (the lane's next tenant) 进行中 — in one transaction and a fixed number of statements."""
    if not done:
        return
    now = timezone.now()
    for tenant, outcome in done:
        tenant.status, tenant.message = outcome.status, outcome.message[:1000]
        tenant.steps, tenant.to_version = outcome.steps, outcome.version
        tenant.attempts, tenant.finished_at = tenant.attempts + 1, now
    with transaction.atomic():
        update_each(
            [tenant for tenant, _o in done],
            ["status", "message", "steps", "to_version", "attempts", "finished_at"],
        )
        if running is not None:
            running.status, running.started_at = Status.RUNNING, now
            update_each([running], ["status", "started_at"])
        for tenant, outcome in done:
            if tenant.datasource is not None and outcome.error:
                schemas.record_error(tenant.datasource, outcome.error)
        schemas.record_many(  # last but the audit rows: it may move tenants in the registry feed
            [(t.datasource, o.state) for t, o in done if t.datasource and o.state is not None]
        )
        audit.record_entries(
            actor=None,
            entries=[
                audit.Entry(
                    "tenant_migrate" if o.status == Status.SUCCEEDED else "tenant_migrate_failed",
                    t.datasource if t.datasource is not None else t.rollout,
                    _("租户库升级至 %(v)s（%(n)s）：%(s)s，%(m)s，%(ms)d 毫秒")
                    % {
                        "v": t.rollout.target_version,
                        "n": t.name,
                        "s": Status(o.status).label,
                        "m": o.message,
                        "ms": o.ms,
                    },
                )
                for t, o in done
            ],
        )


def reap_stale_tenants(*, now=None) -> int:
    """Fail the tenants left 进行中 by a worker that died (no result for
    ``FLEET_STALE_AFTER``), so that the rollout goes on and they can be retried; return to
    等待 what such a worker had taken (已领取) and not started; and queue
    a ``dispatch`` for every running rollout with nothing under way (its last dispatch was
    lost with a broker or a worker), which then finishes it or starts its next tenants."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.FLEET_STALE_AFTER)
    with transaction.atomic():
        stale = list(
            RolloutTenant.objects.select_for_update()
            .filter(status=Status.RUNNING, started_at__lt=cutoff)
            .values_list("pk", "rollout_id")
        )
        RolloutTenant.objects.filter(pk__in=[pk for pk, _r in stale]).update(
            status=Status.FAILED,
            message=_("执行升级的任务进程已停止（超时没有结果），请重试"),
            finished_at=now,
        )
        RolloutTenant.objects.filter(status=Status.QUEUED, started_at__lt=cutoff).update(
            status=Status.PENDING, started_at=None
        )
        idle = Rollout.objects.filter(status=Rollout.Status.RUNNING).exclude(
            tenants__status=Status.RUNNING
        )
        for rollout_id in sorted({r for _pk, r in stale} | set(idle.values_list("pk", flat=True))):
            transaction.on_commit(lambda r=rollout_id: _queue_dispatch(r))
    return len(stale)


# --- Reading -------------------------------------------------------------------------------


def rollout_progress(rollout: Rollout) -> dict[str, Any]:
    """Counts by status, by wave and by server, in two queries."""
    rows = list(rollout.tenants.values_list("status", "wave", "server").annotate(n=Count("id")))
    by_status: dict[str, int] = defaultdict(int)
    servers: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    waves: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for status, wave, server, n in rows:
        if status == Status.QUEUED:  # taken by a worker, not started: still waiting
            status = Status.PENDING
        by_status[status] += n
        servers[server][status] += n
        waves[wave][status] += n
    total = sum(by_status.values())
    done = sum(by_status[s] for s in RolloutTenant.DONE)
    return {
        "total": total,
        "done": done,
        "percent": int(done * 100 / total) if total else 100,
        "by_status": dict(by_status),
        "servers": {
            key: {
                "counts": dict(counts),
                "cap": int(rollout.server_caps.get(key, 1)),
                "total": sum(counts.values()),
            }
            for key, counts in sorted(servers.items())
        },
        "waves": {wave: dict(counts) for wave, counts in sorted(waves.items())},
    }
