"""检测连接: reachability, version, character set, privileges, database state and the
connection budget of the server, as findings."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from .connector import Connector
from .mysql import MySQLConnector
from .postgresql import PostgresConnector
from .privileges import (
    _mysql_user_limit,
    mysql_database_findings,
    mysql_grant_findings,
    pg_role_findings,
)
from .servers import connector_for
from .values import ERROR, OK, WARN, PreflightReport, Target, TenantDBError

logger = logging.getLogger(__name__)

# --- 检测连接 ------------------------------------------------------------------------------


def preflight(
    host: str,
    port: int,
    db_type: str,
    username: str,
    password: str,
    database: str,
    max_pool: int,
    *,
    pools_configured: int | None = None,
) -> PreflightReport:
    """Check a prospective data source without changing anything on the server.

    ``pools_configured``: the sum of max pool sizes already configured on this host:port
    (looked up in the control database when not given)."""
    target = Target(db_type, host, int(port), username, password, database)
    with connector_for(target) as connector:
        return check_with(connector, max_pool=max_pool, pools_configured=pools_configured)


def check_with(
    connector: Connector, *, max_pool: int, pools_configured: int | None = None
) -> PreflightReport:
    """Run the pre-flight checks on an open connector (provisioning reuses it)."""
    target = connector.target
    report = PreflightReport(
        db_type=target.db_type,
        address=target.address,
        username=target.username,
        database=target.database,
        max_pool=int(max_pool),
    )
    if pools_configured is None:
        from ..selectors import pools_configured_on

        pools_configured = pools_configured_on(target.host, target.port)
    report.pools_configured = pools_configured
    started = time.monotonic()
    try:
        _run_checks(connector, report)
    except TenantDBError as exc:
        report.add(exc.code, ERROR, exc.message)
    finally:
        report.elapsed_ms = int((time.monotonic() - started) * 1000)
    logger.info(
        "检测连接 %s %s@%s 数据库 %s：%s",
        target.db_type,
        target.username,
        target.address,
        target.database,
        report.summary(),
    )
    return report


def _run_checks(connector: Connector, report: PreflightReport) -> None:
    t0 = time.monotonic()
    facts = connector.server_facts()  # opens the connection
    report.reachable = True
    report.add(
        "reachable",
        OK,
        _("已连接 %(addr)s（%(ms)d 毫秒）")
        % {"addr": report.address, "ms": int((time.monotonic() - t0) * 1000)},
    )
    _check_version(report, facts)
    if isinstance(connector, MySQLConnector):
        _check_mysql(connector, report, facts)
    else:
        _check_postgres(connector, report, facts)
    _check_budget(report, facts["max_connections"])


def _check_version(report: PreflightReport, facts: dict[str, Any]) -> None:
    report.server_version = facts["version"]
    minimum = {"MySQL": (5, 7), "MariaDB": (10, 3), "PostgreSQL": (12,)}[facts["product"]]
    if facts["version_tuple"] and facts["version_tuple"] < minimum:
        report.add(
            "version",
            WARN,
            _("服务器版本 %(v)s 较旧（建议 %(p)s %(m)s 及以上）")
            % {
                "v": facts["version"],
                "p": facts["product"],
                "m": ".".join(str(x) for x in minimum),
            },
        )
    else:
        report.add("version", OK, _("服务器版本：%(v)s") % {"v": facts["version"]})


def _check_mysql(connector: MySQLConnector, report: PreflightReport, facts: dict) -> None:
    report.charset = facts["charset"]
    if facts["charset"].lower() == "utf8mb4":
        report.add("charset", OK, _("服务器字符集：utf8mb4"))
    else:
        report.add(
            "charset",
            WARN,
            _("服务器默认字符集为 %(c)s；新建的数据库会明确使用 utf8mb4") % {"c": facts["charset"]},
        )
    grants = connector.grants()
    for finding in mysql_grant_findings(grants):
        report.add(*finding)
    limit = _mysql_user_limit(grants) or facts["max_user_connections"]
    if limit and limit < report.max_pool:
        report.add(
            "account_connection_limit",
            ERROR,
            _("账号最多只能建立 %(l)d 个连接，小于最大连接数 %(m)d")
            % {"l": limit, "m": report.max_pool},
        )
    for finding in mysql_database_findings(
        grants, report.database, report.username, grant_pattern()
    ):
        report.add(*finding)
    exists, tables, charset = connector.database_state(report.database)
    _database_findings(report, exists, tables, charset, wanted="utf8mb4")


def grant_pattern() -> str:
    """The MySQL grant pattern covering every database this platform names
    (``TENANT_DB_PREFIX`` then anything, its ``_`` escaped)."""
    return settings.TENANT_DB_PREFIX.replace("_", "\\_") + "%"


def _check_postgres(connector: PostgresConnector, report: PreflightReport, facts: dict) -> None:
    report.charset = facts["charset"]
    if facts["charset"].upper() in ("UTF8", "UTF-8"):
        report.add("charset", OK, _("服务器字符集：UTF8"))
    else:
        report.add(
            "charset",
            WARN,
            _("服务器默认编码为 %(c)s；新建的数据库会明确使用 UTF8") % {"c": facts["charset"]},
        )
    roles = connector.roles()
    me = next((r for r in roles if r["is_self"]), None) or {}
    for code, level, message in pg_role_findings(roles):
        report.add(code, level, message)
    limit = -1 if me.get("connlimit") is None else int(me["connlimit"])
    if 0 <= limit < report.max_pool:
        report.add(
            "account_connection_limit",
            ERROR,
            _("账号最多只能建立 %(l)d 个连接（CONNECTION LIMIT），小于最大连接数 %(m)d")
            % {"l": limit, "m": report.max_pool},
        )
    try:
        exists, tables, charset = connector.database_state(report.database)
    except TenantDBError as exc:
        report.database_exists = True
        report.add(exc.code, ERROR, exc.message)
        return
    if not exists and not me.get("createdb"):
        report.add(
            "database_privileges",
            ERROR,
            _("数据库 %(d)s 不存在，账号需要 CREATEDB 权限才能创建它") % {"d": report.database},
        )
    elif not exists:
        report.add(
            "database_privileges",
            OK,
            _("账号有 CREATEDB 权限，保存时可以创建数据库 %(d)s") % {"d": report.database},
        )
    _database_findings(report, exists, tables, charset, wanted="UTF8")


def _database_findings(
    report: PreflightReport, exists: bool, tables: int, charset: str, *, wanted: str
) -> None:
    report.database_exists = exists
    report.database_tables = tables if exists else 0
    name = report.database
    if not exists:
        report.add(
            "database",
            OK,
            _("数据库 %(d)s 尚不存在，保存时创建（%(c)s）") % {"d": name, "c": wanted},
        )
        return
    if tables:
        report.add(
            "database_not_empty",
            ERROR,
            _("数据库 %(d)s 已存在且有 %(n)d 张表，不能用作新客户的数据库")
            % {"d": name, "n": tables},
        )
        return
    if charset.replace("-", "").lower() != wanted.replace("-", "").lower():
        report.add(
            "database_charset",
            ERROR,
            _("已存在的数据库 %(d)s 字符集为 %(c)s，应为 %(w)s")
            % {"d": name, "c": charset, "w": wanted},
        )
        return
    report.add(
        "database",
        WARN,
        _("数据库 %(d)s 已存在且为空，将直接使用（删除数据源时不会删除该库）") % {"d": name},
    )


def _check_budget(report: PreflightReport, server_max: int) -> None:
    report.server_max_connections = server_max
    total = report.pools_configured + report.max_pool
    values = {
        "s": server_max,
        "c": report.pools_configured,
        "m": report.max_pool,
        "t": total,
        "addr": report.address,
    }
    if total > server_max:
        report.add(
            "connection_budget",
            ERROR,
            _(
                "连接数超出预算：%(addr)s 可用连接数 %(s)d，已配置的连接池上限合计 %(c)d，"
                "加上本数据源 %(m)d 共 %(t)d"
            )
            % values,
        )
    else:
        report.add(
            "connection_budget",
            OK,
            _("连接数预算：已配置 %(c)d + 本数据源 %(m)d = %(t)d，服务器可用 %(s)d") % values,
        )
