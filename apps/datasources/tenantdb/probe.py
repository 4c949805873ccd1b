"""The delete probe: which tables of a tenant database hold rows."""

from __future__ import annotations

import logging
from typing import Any

from .servers import connector_for
from .values import ProbeResult, Target

logger = logging.getLogger(__name__)

# --- probe ---------------------------------------------------------------------------------


def probe(datasource: Any) -> ProbeResult:
    """Which tables of the tenant database hold rows (``EXISTS``-style ``LIMIT 1`` per
    table, not statistics) and how many communities are online. Raises TenantDBError
    when the server cannot be asked."""
    target = Target.of(datasource)
    with connector_for(target) as connector:
        return connector.probe(target.database)
