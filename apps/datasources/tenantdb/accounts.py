"""Tenant accounts on a server, done with a DBA's account (轮换账号): clone a tenant's
account under a new name and password, and later retire the old one.

The password never travels in clear in a statement: MySQL/MariaDB receive the
``mysql_native_password`` hash (``IDENTIFIED WITH mysql_native_password AS '*…'``),
PostgreSQL the SCRAM-SHA-256 verifier computed by libpq — so neither a server's statement
log nor an error message can contain it.

- MySQL/MariaDB: the new account is created on each host the old one exists for, and the
  old one's grants are replayed for it. Retiring drops the old account — or locks it
  (``ACCOUNT LOCK``) when a view, routine or trigger still names it as its definer.
- PostgreSQL: objects belong to the role that created them, so the new login role joins
  the role that owns the tenant's objects and starts every session as it
  (``ALTER ROLE … SET role``): what it creates is owned by that role too. Retiring the
  owner's own login (the first rotation) takes its login and password away
  (``NOLOGIN PASSWORD NULL``); a later login role, which owns nothing, is dropped.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from typing import Any

from django.utils.translation import gettext as _

from .values import MYSQL, TenantDBError


def generate_password(length: int = 24) -> str:
    """A random password meeting the data-source policy (upper, lower, digit, special),
    with specials that need no escaping in connection strings."""
    specials = "-_#+="
    alphabet = string.ascii_letters + string.digits + specials
    while True:
        value = "".join(secrets.choice(alphabet) for _i in range(length))
        if (
            any(c.isupper() for c in value)
            and any(c.islower() for c in value)
            and any(c.isdigit() for c in value)
            and any(c in specials for c in value)
        ):
            return value


def rotated_username(current: str, generation: int, limit: int = 32) -> str:
    """``tenant_app`` → ``tenant_app_r2``; ``tenant_app_r2`` → ``tenant_app_r3``."""
    base = re.sub(r"_r\d+$", "", current)
    suffix = f"_r{generation}"
    return base[: limit - len(suffix)] + suffix


def _mysql_native_hash(password: str) -> str:
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()  # noqa: S324 - the server's own scheme


class MySQLAccounts:
    def __init__(self, connector: Any) -> None:
        self.c = connector

    def _account(self, user: str, host: str) -> str:
        return f"'{_literal(user)}'@'{_literal(host)}'"

    def hosts(self, user: str) -> list[str]:
        rows = self.c.query(
            "SELECT Host FROM mysql.user WHERE User = %s ORDER BY Host",
            [user],
            action=_("读取账号"),
        )
        return [str(r[0]) for r in rows]

    def clone(self, old: str, new: str, password: str) -> None:
        hosts = self.hosts(old)
        if not hosts:
            raise TenantDBError("account_missing", _("服务器上没有账号 %(u)s") % {"u": old})
        if self.hosts(new):
            raise TenantDBError("account_exists", _("服务器上已有账号 %(u)s") % {"u": new})
        digest = _mysql_native_hash(password)
        for host in hosts:
            self.c.query(
                f"CREATE USER {self._account(new, host)} "
                f"IDENTIFIED WITH mysql_native_password AS '{digest}'",
                action=_("创建账号 %(u)s") % {"u": new},
            )
            for (line,) in self.c.query(
                f"SHOW GRANTS FOR {self._account(old, host)}", action=_("读取权限")
            ):
                grant = _regrant(str(line), old, new)
                if grant:
                    self.c.query(grant, action=_("授予账号 %(u)s 权限") % {"u": new})

    def definer_objects(self, user: str) -> list[str]:
        like = f"{_like(user)}@%"
        rows = self.c.query(
            "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.VIEWS "
            "WHERE DEFINER LIKE %s UNION ALL "
            "SELECT CONCAT(ROUTINE_SCHEMA, '.', ROUTINE_NAME) FROM information_schema.ROUTINES "
            "WHERE DEFINER LIKE %s UNION ALL "
            "SELECT CONCAT(TRIGGER_SCHEMA, '.', TRIGGER_NAME) FROM information_schema.TRIGGERS "
            "WHERE DEFINER LIKE %s",
            [like, like, like],
            action=_("检查定义者"),
        )
        return [str(r[0]) for r in rows]

    def retire(self, old: str, new: str) -> str:
        """Drop the old account (or lock it while objects name it as definer)."""
        hosts = self.hosts(old)
        if not hosts:
            return _("账号 %(u)s 已不存在") % {"u": old}
        definers = self.definer_objects(old)
        for host in hosts:
            if definers:
                self.c.query(
                    f"ALTER USER {self._account(old, host)} ACCOUNT LOCK",
                    action=_("锁定账号 %(u)s") % {"u": old},
                )
            else:
                self.c.query(
                    f"DROP USER {self._account(old, host)}",
                    action=_("删除账号 %(u)s") % {"u": old},
                )
        if definers:
            return _("旧账号 %(u)s 已锁定（%(o)s 以它为定义者，未删除）") % {
                "u": old,
                "o": "、".join(definers[:5]),
            }
        return _("已删除旧账号 %(u)s") % {"u": old}

    def drop(self, user: str) -> None:
        for host in self.hosts(user):
            self.c.query(f"DROP USER {self._account(user, host)}", action=_("删除账号"))


class PgAccounts:
    def __init__(self, connector: Any) -> None:
        self.c = connector

    def _exists(self, role: str) -> bool:
        return bool(
            self.c.query("SELECT 1 FROM pg_roles WHERE rolname = %s", [role], action=_("读取账号"))
        )

    def owner_of(self, login: str) -> str:
        """The role whose objects ``login`` works with: the role its sessions start as
        (``SET role`` in its settings), or itself."""
        rows = self.c.query(
            "SELECT unnest(rolconfig) FROM pg_roles WHERE rolname = %s",
            [login],
            action=_("读取账号"),
        )
        for (setting,) in rows:
            name, _eq, value = str(setting).partition("=")
            if name == "role" and value:
                return value.strip('"')
        return login

    def clone(self, old: str, new: str, password: str) -> None:
        if not self._exists(old):
            raise TenantDBError("account_missing", _("服务器上没有账号 %(u)s") % {"u": old})
        if self._exists(new):
            raise TenantDBError("account_exists", _("服务器上已有账号 %(u)s") % {"u": new})
        owner = self.owner_of(old)
        verifier = self.c.server.pgconn.encrypt_password(
            password.encode(), new.encode(), b"scram-sha-256"
        ).decode()
        q = self.c.quote
        self.c.query(
            f"CREATE ROLE {q(new)} LOGIN PASSWORD '{_literal(verifier)}' IN ROLE {q(owner)}",
            action=_("创建账号 %(u)s") % {"u": new},
        )
        self.c.query(
            f"ALTER ROLE {q(new)} SET role = '{_literal(owner)}'",
            action=_("设置账号 %(u)s") % {"u": new},
        )

    def retire(self, old: str, new: str) -> str:
        if not self._exists(old):
            return _("账号 %(u)s 已不存在") % {"u": old}
        q = self.c.quote
        if self.owner_of(new) == old:
            self.c.query(
                f"ALTER ROLE {q(old)} NOLOGIN PASSWORD NULL",
                action=_("停用账号 %(u)s") % {"u": old},
            )
            return _("旧账号 %(u)s 已停止登录（它仍拥有租户库的表，不能删除）") % {"u": old}
        self.c.query(f"DROP ROLE {q(old)}", action=_("删除账号 %(u)s") % {"u": old})
        return _("已删除旧账号 %(u)s") % {"u": old}

    def drop(self, user: str) -> None:
        if self._exists(user):
            self.c.query(f"DROP ROLE {self.c.quote(user)}", action=_("删除账号"))


def _literal(value: str) -> str:
    """Inside single quotes (identifiers come from validated usernames; hashes are hex or
    base64): doubled quotes and backslashes as defence in depth."""
    return value.replace("\\", "\\\\").replace("'", "''")


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _regrant(line: str, old: str, new: str) -> str:
    """A ``SHOW GRANTS`` line for ``old`` rewritten for ``new`` — or "" for the line that
    carries the login itself (``GRANT USAGE … IDENTIFIED …``: the new account has its own)."""
    if "IDENTIFIED" in line.upper() and line.upper().startswith("GRANT USAGE ON *.*"):
        return ""
    if line.upper().startswith("GRANT USAGE ON *.*"):
        return ""
    pattern = re.compile(r"TO\s+[`']" + re.escape(old) + r"[`']@")
    if not pattern.search(line):
        return ""
    return pattern.sub(lambda _m: f"TO `{new}`@", line, count=1)


def accounts_for(connector: Any) -> MySQLAccounts | PgAccounts:
    return MySQLAccounts(connector) if connector.db_type == MYSQL else PgAccounts(connector)
