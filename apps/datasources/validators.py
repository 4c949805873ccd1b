"""Rules for what devops type into the data-source form. Messages are Chinese and never
repeat the password."""

from __future__ import annotations

import ipaddress
import re
import string

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# Superuser and system accounts of MySQL/MariaDB, PostgreSQL and the usual cloud services.
# Compared case-insensitively.
FORBIDDEN_USERNAMES = frozenset(
    {
        "root",
        "admin",
        "administrator",
        "superuser",
        "sa",
        "sys",
        "system",
        "dba",
        "mysql",
        "mariadb.sys",
        "mysql.sys",
        "mysql.session",
        "mysql.infoschema",
        "debian-sys-maint",
        "postgres",
        "rdsadmin",
        "rdsrepladmin",
        "rds_superuser",
        "azure_superuser",
        "azure_pg_admin",
        "cloudsqlsuperuser",
        "cloudsqladmin",
        "alloydbadmin",
    }
)
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
USERNAME_MAX = 32  # MySQL 5.7's limit; MariaDB allows 80, PostgreSQL 63

PASSWORD_MIN = 8
PASSWORD_MAX = 128
_SPECIALS = set(string.punctuation)

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def validate_username(value: str) -> None:
    name = (value or "").strip()
    if not name:
        raise ValidationError(_("请填写账号"), code="required")
    lowered = name.lower()
    if lowered in FORBIDDEN_USERNAMES or lowered.startswith("pg_"):
        raise ValidationError(
            _("不允许使用超级管理员或系统账号（%(name)s），请为该客户单独建立账号")
            % {"name": name},
            code="superuser",
        )
    if len(name) > USERNAME_MAX:
        raise ValidationError(_("账号最多 %(n)d 个字符") % {"n": USERNAME_MAX}, code="length")
    if not _USERNAME_RE.match(name):
        raise ValidationError(_("账号只能包含字母、数字、下划线、点和连字符"), code="format")


def password_problems(value: str) -> list[str]:
    """What the password lacks, in Chinese (empty when it passes the policy)."""
    value = value or ""
    problems = []
    if len(value) < PASSWORD_MIN:
        problems.append(_("至少 %(n)d 位") % {"n": PASSWORD_MIN})
    if not any(c.isascii() and c.isupper() for c in value):
        problems.append(_("大写字母"))
    if not any(c.isdigit() for c in value):
        problems.append(_("数字"))
    if not any(c in _SPECIALS for c in value):
        problems.append(_("特殊字符"))
    return problems


def validate_password(value: str) -> None:
    """≥ 8 characters with an upper-case letter, a digit and a special character."""
    if not value:
        raise ValidationError(_("请填写密码"), code="required")
    if len(value) > PASSWORD_MAX:
        raise ValidationError(_("密码最多 %(n)d 位") % {"n": PASSWORD_MAX}, code="length")
    if any(not c.isprintable() or c.isspace() for c in value):
        raise ValidationError(_("密码不能包含空格或控制字符"), code="format")
    problems = password_problems(value)
    if problems:
        raise ValidationError(
            _("密码强度不足：需至少 8 位，且包含大写字母、数字和特殊字符；当前缺少：%(p)s")
            % {"p": "、".join(problems)},
            code="weak",
        )


def validate_host(value: str) -> None:
    """An IPv4/IPv6 address or a DNS host name (no scheme, no port)."""
    host = (value or "").strip()
    if not host:
        raise ValidationError(_("请填写数据库地址"), code="required")
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if (
        len(host) > 253
        or not all(_HOST_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()  # looks like a mistyped IPv4 address
    ):
        raise ValidationError(
            _("请填写主机名或 IP 地址（不含端口），例如 10.0.3.12"), code="format"
        )
