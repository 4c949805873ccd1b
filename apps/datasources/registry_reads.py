"""The audit of tenant-registry reads (one row per read, never a secret)."""

from __future__ import annotations

import logging

from django.utils.translation import gettext as _

from apps.audit import services as audit

from .models import DataSource

logger = logging.getLogger(__name__)

# --- 租户注册表 -----------------------------------------------------------------------------


def registry_read_recorded(
    *,
    actor,
    datasource: DataSource | None,
    enterprise_no: str,
    token_name: str,
    outcome: str,
) -> None:
    """Audit one read of the tenant registry: who (the token's account), which data
    source, which token and what was answered (``ok``, ``not_modified``, ``not_found``).
    One INSERT in autocommit — the registry is on the business system's hot path. The
    row never holds the password (nor anything derived from it)."""
    outcomes = {
        "ok": _("已返回连接信息"),
        "not_modified": _("未变化（304）"),
        "not_found": _("未找到租户或未配置数据源（404）"),
    }
    audit.record(
        actor=actor,
        action="registry_read",
        obj=datasource,
        object_repr=None if datasource is not None else enterprise_no[:200],
        message=_("令牌「%(t)s」读取租户 %(e)s：%(o)s")
        % {"t": token_name, "e": enterprise_no, "o": outcomes.get(outcome, outcome)},
    )
