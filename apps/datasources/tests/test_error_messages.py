"""Tenant error messages say what happened: a connection the server dropped after a moment
is not "no answer within 30 seconds", and a cause the driver left empty leaves no dangling
colon."""

from __future__ import annotations

import pymysql

from apps.datasources import tenantdb


def _connector() -> tenantdb.MySQLConnector:
    target = tenantdb.Target("mysql", "127.0.0.1", 3306, "tenant_app", "Secret#2026pw")
    return tenantdb.MySQLConnector(target)


def test_a_dropped_connection_is_not_called_a_timeout(settings):
    settings.TENANT_QUERY_TIMEOUT = 30
    exc = pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query")
    message = _connector()._translate(exc, "创建数据库", elapsed=0.0).message
    assert "30 秒内没有响应" not in message
    assert "断开了连接" in message


def test_a_real_timeout_says_so(settings):
    settings.TENANT_QUERY_TIMEOUT = 30
    exc = pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query")
    message = _connector()._translate(exc, "创建数据库", elapsed=30.2).message
    assert "30 秒内没有响应" in message


def test_an_empty_cause_leaves_no_dangling_colon():
    exc = pymysql.err.OperationalError(1044, "")
    message = _connector()._translate(exc, "创建数据库", elapsed=0.1).message
    assert message == "创建数据库失败（权限不足）"
    assert "Secret#2026pw" not in message
