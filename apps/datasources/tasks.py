"""Data-source tasks. They carry ids only: a worker reads the encrypted password from the
run it is given, never from its arguments.

A control database that does not answer (a connection dropped, a fail-over) is a passing
fault: the task is retried with exponential backoff. Both tasks are idempotent — a run is
taken once (``run_queued`` moves it from 排队中 to 进行中 under a row lock) and a stale run
is reaped once — so a retry or a second delivery does no harm."""

from __future__ import annotations

from celery import shared_task

from apps.core.tasking import RETRY


@shared_task(name="datasources.provision", **RETRY)
def provision(run_id: int) -> str:
    """Run a queued provisioning run (see ``provisioning.run_queued``). Idempotent: a run
    already taken — by another delivery of this task — is left alone."""
    from .provisioning import run_queued

    run = run_queued(run_id)
    return run.status if run else "skipped"


@shared_task(name="datasources.refresh_schemas", **RETRY)
def refresh_schemas() -> dict[str, int]:
    """Beat, every ``SCHEMA_PROBE_EVERY``: read every tenant's schema version
    (``schemas.refresh_all``); a tenant that cannot be read is recorded and skipped."""
    from . import schemas

    return schemas.refresh_all()


@shared_task(name="datasources.reap_runs", **RETRY)
def reap_runs() -> int:
    """Beat, every minute: settle the provisioning runs, rollout tenants, table clearings,
    relocations and rotations whose worker died (``reap_stale_runs``,
    ``rollouts.reap_stale_tenants`` and each module's ``reap_stale``)."""
    from . import clearing, relocation, rotation
    from .provisioning import reap_stale_runs
    from .rollouts import reap_stale_tenants

    return (
        len(reap_stale_runs())
        + reap_stale_tenants()
        + clearing.reap_stale()
        + relocation.reap_stale()
        + rotation.reap_stale()
    )


@shared_task(name="datasources.rollout_dispatch", **RETRY)
def rollout_dispatch(rollout_id: int) -> int:
    """Start the next tenants of a rollout within each server's cap (``rollouts.dispatch``)."""
    from .rollouts import dispatch

    return len(dispatch(rollout_id))


@shared_task(name="datasources.migrate_tenant", **RETRY)
def migrate_tenant(tenant_id: int) -> str:
    """Migrate one tenant of a rollout (``rollouts.migrate_tenant``); idempotent: a
    tenant not 进行中 is left alone."""
    from .rollouts import migrate_tenant as run

    return run(tenant_id)


@shared_task(name="datasources.clear_tables", **RETRY)
def clear_tables(clearing_id: int) -> str:
    """Keep and clear the tables of a queued 清空数据表 (``clearing.run_clearing``); taken
    once however often it is delivered."""
    from .clearing import run_clearing

    clearing = run_clearing(clearing_id)
    return clearing.status if clearing else "skipped"


@shared_task(name="datasources.restore_tables", **RETRY)
def restore_tables(clearing_id: int) -> str:
    """Put a clearing's rows back (``clearing.run_restore``); taken once."""
    from .clearing import run_restore

    clearing = run_restore(clearing_id)
    return clearing.status if clearing else "skipped"


@shared_task(name="datasources.purge_clearing_backups", **RETRY)
def purge_clearing_backups() -> int:
    """Beat, daily: drop the backups of clearings past ``TENANT_CLEAR_RETENTION_DAYS``."""
    from .clearing import purge_expired

    return purge_expired()


@shared_task(name="datasources.relocate", **RETRY)
def relocate(relocation_id: int) -> str:
    """Run a queued 迁移数据源 (``relocation.run_relocation``); taken once."""
    from .relocation import run_relocation

    relocation = run_relocation(relocation_id)
    return relocation.status if relocation else "skipped"


@shared_task(name="datasources.rotate_credentials", **RETRY)
def rotate_credentials(rotation_id: int) -> str:
    """Run a queued 轮换账号 (``rotation.run_rotation``); taken once."""
    from .rotation import run_rotation

    rotation = run_rotation(rotation_id)
    return rotation.status if rotation else "skipped"


@shared_task(name="datasources.retire_accounts", **RETRY)
def retire_accounts() -> int:
    """Beat, every minute: retire the old accounts of rotations whose grace is over."""
    from .rotation import retire_due

    return retire_due()
