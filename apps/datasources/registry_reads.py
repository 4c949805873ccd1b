"""The audit of tenant-registry reads: counted per token and tenant (how many, how many
304 and 404, first and last read) in 操作日志 → 读取汇总, never one row per read and
never a secret."""

from __future__ import annotations

from apps.audit import tally

# --- 租户注册表 -----------------------------------------------------------------------------

ACTION = "registry_read"
LIST_KEY = "*"  # a page of the feed: the whole registry, not one tenant
_OUTCOMES = {"ok": "ok", "not_modified": "unchanged", "not_found": "missing"}


def registry_read_recorded(
    *,
    token,
    enterprise_no: str,
    name: str = "",
    outcome: str,
) -> None:
    """Count one read of the tenant registry by ``token``: of tenant ``enterprise_no``, or
    of a feed page (``LIST_KEY``). ``outcome``: ``ok``, ``not_modified``, ``not_found``.
    No statement here — the counts are written in batches (``apps.audit.tally``)."""
    tally.count_read(
        action=ACTION,
        source=f"token:{token.pk}",
        source_label=token.name,
        actor_id=token.user_id,
        object_key=enterprise_no,
        object_repr=name,
        outcome=_OUTCOMES.get(outcome, "ok"),
    )
