"""Privilege policy: what an account may hold on a tenant server (grants on MySQL,
roles on PostgreSQL), as findings."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.utils.translation import gettext as _

from .values import ERROR, MYSQL_SYSTEM_SCHEMAS, OK, PG_DANGEROUS_ROLES, WARN

logger = logging.getLogger(__name__)


def mysql_grant_findings(lines: list[str]) -> list[tuple[str, str, str]]:
    """Judge SHOW GRANTS output: refuse global privileges (ON *.* beyond USAGE), SUPER,
    GRANT OPTION and privileges on system schemas; warn about PROXY. Lines are never
    echoed (they may hold the password hash); privilege names are."""
    findings: list[tuple[str, str, str]] = []
    global_privs: list[str] = []
    system: list[str] = []
    grant_option = False
    proxy = False
    unreadable_roles: list[str] = []
    for line in lines:
        if line.startswith("-- ROLE-UNREADABLE "):
            unreadable_roles.append(line.split(" ", 2)[2])
            continue
        upper = line.upper()
        if re.search(r"\bWITH\b.*\bGRANT\s+OPTION\b", upper):
            grant_option = True
        m = re.match(r"^GRANT\s+(.+?)\s+ON\s+(.+?)\s+TO\s+", line, re.I | re.S)
        if not m:
            continue
        privs, target = m.group(1).strip(), m.group(2).strip()
        if privs.upper().startswith("PROXY"):
            proxy = True
            continue
        target = re.sub(r"^(PROCEDURE|FUNCTION|PACKAGE BODY|PACKAGE)\s+", "", target, flags=re.I)
        schema = target.split(".")[0].strip("`'\"")
        if target.replace("`", "") == "*.*":
            if privs.upper() != "USAGE":
                global_privs.extend(p.strip() for p in privs.split(",") if p.strip())
        elif schema.replace("\\", "").lower() in MYSQL_SYSTEM_SCHEMAS:
            system.append(schema.replace("\\", ""))
    if global_privs:
        names = "、".join(dict.fromkeys(global_privs))
        if len(names) > 120:
            names = names[:120] + "…"
        has_super = any(p.upper() in ("SUPER", "ALL", "ALL PRIVILEGES") for p in global_privs)
        findings.append(
            (
                "global_privileges",
                ERROR,
                _("账号拥有全局权限（ON *.*：%(p)s）%(s)s，请只授予该客户数据库的权限")
                % {"p": names, "s": _("，含 SUPER") if has_super else ""},
            )
        )
    if grant_option:
        findings.append(
            (
                "grant_option",
                ERROR,
                _("账号拥有 GRANT OPTION（可把权限转授他人），请去掉 WITH GRANT OPTION"),
            )
        )
    if system:
        findings.append(
            (
                "system_schema",
                ERROR,
                _("账号拥有系统库或全部库的权限（%(s)s），请只授予该客户数据库的权限")
                % {"s": "、".join(dict.fromkeys(system))},
            )
        )
    if proxy:
        findings.append(("proxy", WARN, _("账号拥有 PROXY 权限，可以代理其他账号，建议收回")))
    if unreadable_roles:
        findings.append(
            (
                "roles_unchecked",
                WARN,
                _("无法读取账号所属角色 %(r)s 的权限，请人工确认")
                % {"r": "、".join(unreadable_roles)},
            )
        )
    if not findings:
        findings.append(
            ("privileges", OK, _("账号权限：只有数据库级授权，无全局权限、SUPER 或 GRANT OPTION"))
        )
    return findings


# What provisioning and the business system need on a tenant's own database: create it
# (when it does not exist) and its tables, change and index them, read and write rows, and
# drop it again when a failed run or a guarded delete cleans up.
MYSQL_NEEDED = ("CREATE", "DROP", "ALTER", "INDEX", "SELECT", "INSERT", "UPDATE", "DELETE")
_GRANT_RE = re.compile(r"^GRANT\s+(.+?)\s+ON\s+(.+?)\s+TO\s+", re.I | re.S)


def mysql_pattern_matches(pattern: str, name: str) -> bool:
    """Whether a database-name pattern of a MySQL grant covers ``name``: ``%`` any run of
    characters, ``_`` any one character, a backslash makes the next one literal."""
    regex: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            regex.append(re.escape(next(chars, "")))
        elif char == "%":
            regex.append(".*")
        elif char == "_":
            regex.append(".")
        else:
            regex.append(re.escape(char))
    return re.fullmatch("".join(regex), name, re.S) is not None


def mysql_privileges_on(lines: list[str], database: str) -> set[str]:
    """The privileges SHOW GRANTS gives on database ``database`` as a whole (grants on
    ``*.*`` or on a matching ``db``.* pattern; grants on single tables or routines do not let
    anyone create the database or its tables)."""
    held: set[str] = set()
    for line in lines:
        m = _GRANT_RE.match(line)
        if not m:
            continue
        privs, target = m.group(1).strip(), m.group(2).strip()
        if re.match(r"^(PROCEDURE|FUNCTION|PACKAGE)\s", target, re.I):
            continue
        schema, _dot, table = target.rpartition(".")
        if table.strip() != "*":
            continue
        schema = schema.strip()
        if schema.startswith("`") and schema.endswith("`") and len(schema) > 1:
            schema = schema[1:-1].replace("``", "`")
        if schema == "*" or mysql_pattern_matches(schema, database):
            for priv in privs.split(","):
                priv = priv.strip().upper()
                held |= set(MYSQL_NEEDED) if priv in ("ALL", "ALL PRIVILEGES") else {priv}
    return held


def mysql_database_findings(
    lines: list[str], database: str, username: str, grant_pattern: str
) -> list[tuple[str, str, str]]:
    """Whether the account may create ``database`` and work in it — judged from its grants,
    without creating anything. Missing privileges are an error (provisioning would fail
    part-way), a warning only when a role's grants could not be read."""
    held = mysql_privileges_on(lines, database)
    missing = [p for p in MYSQL_NEEDED if p not in held]
    if not missing:
        return [
            (
                "database_privileges",
                OK,
                _("账号在数据库 %(d)s 上有建库、建表、读写和删除权限") % {"d": database},
            )
        ]
    unreadable = any(line.startswith("-- ROLE-UNREADABLE ") for line in lines)
    return [
        (
            "database_privileges",
            WARN if unreadable else ERROR,
            _(
                "账号在数据库 %(d)s 上缺少 %(p)s 权限，保存时无法建库或建表。请由 DBA 授权："
                "GRANT ALL PRIVILEGES ON `%(g)s`.* TO '%(u)s'@'…'"
            )
            % {"d": database, "p": "、".join(missing), "g": grant_pattern, "u": username},
        )
    ]


def _mysql_user_limit(lines: list[str]) -> int:
    for line in lines:
        m = re.search(r"MAX_USER_CONNECTIONS\s+(\d+)", line, re.I)
        if m and int(m.group(1)) > 0:
            return int(m.group(1))
    return 0


def pg_role_findings(roles: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Judge the account's role attributes and memberships: refuse SUPERUSER, CREATEROLE,
    REPLICATION and the predefined roles that reach every database or the server's files
    (held directly or through a role the account can SET ROLE to); warn on BYPASSRLS."""
    me = next((r for r in roles if r["is_self"]), None) or {}
    if me.get("super"):
        # A superuser is a member of every role; one finding says it all.
        return [("superuser", ERROR, _("账号是超级用户（SUPERUSER），请改用普通账号"))]
    findings: list[tuple[str, str, str]] = []

    def holders(flag: str) -> str:
        return "、".join(r["name"] for r in roles if r[flag])

    if any(r["super"] for r in roles):
        findings.append(
            (
                "superuser",
                ERROR,
                _("账号属于超级用户角色（%(r)s），可切换为超级用户，请收回")
                % {"r": holders("super")},
            )
        )
    if any(r["createrole"] for r in roles):
        findings.append(
            (
                "createrole",
                ERROR,
                _("账号拥有 CREATEROLE（可创建和修改其他账号）：%(r)s，请收回")
                % {"r": holders("createrole")},
            )
        )
    if any(r["replication"] for r in roles):
        findings.append(
            (
                "replication",
                ERROR,
                _("账号拥有 REPLICATION（可读取整个实例的数据）：%(r)s，请收回")
                % {"r": holders("replication")},
            )
        )
    dangerous = [r["name"] for r in roles if r["name"] in PG_DANGEROUS_ROLES]
    if dangerous:
        findings.append(
            (
                "predefined_roles",
                ERROR,
                _("账号属于可访问全部数据库或服务器文件的预置角色：%(r)s，请收回")
                % {"r": "、".join(dangerous)},
            )
        )
    if any(r["bypassrls"] for r in roles):
        # Tenant databases do not rely on row-level security, so this is a warning.
        findings.append(
            (
                "bypassrls",
                WARN,
                _("账号拥有 BYPASSRLS（可绕过行级安全策略）；租户库不依赖行级安全，建议收回"),
            )
        )
    if not any(level == ERROR for _c, level, _m in findings):
        findings.append(("privileges", OK, _("账号权限：非超级用户，无 CREATEROLE、REPLICATION")))
    return findings
