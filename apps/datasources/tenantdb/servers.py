"""The connector for a target's server type."""

from __future__ import annotations

import logging

from django.utils.translation import gettext as _

from .connector import Connector
from .mysql import MySQLConnector
from .postgresql import PostgresConnector
from .values import MYSQL, POSTGRESQL, Target, TenantDBError

logger = logging.getLogger(__name__)


def connector_for(target: Target) -> Connector:
    if target.db_type == MYSQL:
        return MySQLConnector(target)
    if target.db_type == POSTGRESQL:
        return PostgresConnector(target)
    raise TenantDBError("bad_type", _("不支持的数据源类型：%(t)s") % {"t": target.db_type})
