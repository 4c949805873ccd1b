"""Data-source tasks. They carry ids only: a worker reads the encrypted password from the
run it is given, never from its arguments."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="datasources.provision")
def provision(run_id: int) -> str:
    """Run a queued provisioning run (see ``provisioning.run_queued``). Idempotent: a run
    already taken — by another delivery of this task — is left alone."""
    from .provisioning import run_queued

    run = run_queued(run_id)
    return run.status if run else "skipped"


@shared_task(name="datasources.reap_runs")
def reap_runs() -> int:
    """Beat, every minute: fail the runs whose worker died (``reap_stale_runs``)."""
    from .provisioning import reap_stale_runs

    return len(reap_stale_runs())
