"""Versioned tenant schemas.

``TENANT_BASELINE_DIR`` holds one folder per server type (``mysql/``, ``postgresql/``) of
migration files named ``NNNN_name.sql`` (four digits, applied in order); each has a
checksum (SHA-256 of its text, line endings normalised). Every tenant database records the
versions applied to it in its own ``schema_version`` table, which the platform creates and
writes — the files hold only the business system's own DDL.

A database provisioned before versioning has a ``schema_version`` table without checksums
(its rows were written by the old baseline files): it is taken to be at the versions it
records ("adopted as at its baseline"), and its checksums are filled in from the files the
first time a rollout touches it. Reading a tenant's state never writes.

Drift — an applied version whose recorded checksum differs from its file's, an applied
version with no file, or a gap (a version missing below one applied) — is reported, never
"fixed": a drifted tenant is skipped by rollouts until someone looks at it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from .sqlfiles import baseline_files, split_sql

VERSION_TABLE = "schema_version"
FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[A-Za-z0-9_\-]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: str
    name: str
    path: Path
    checksum: str
    text: str = field(repr=False)

    @cached_property
    def statements(self) -> list[tuple[str, int, str]]:
        """(file name, statement number, SQL) for each statement of the file."""
        return [(self.path.name, i, sql) for i, sql in enumerate(split_sql(self.text), 1)]

    @property
    def label(self) -> str:
        return f"{self.version}_{self.name}"


def checksum(text: str) -> str:
    return hashlib.sha256(text.replace("\r\n", "\n").encode("utf-8")).hexdigest()


# Parsed files, by the folder's listing (name, mtime, size): pages and every tenant of a
# rollout ask for them, and re-reading and hashing every file each time is wasted.
_parsed: dict[tuple, list[Migration]] = {}


def migrations(db_type: str) -> list[Migration]:
    """The migration files for ``db_type`` in version order (empty: no baseline).
    A file not named ``NNNN_name.sql`` or two files of one version are a configuration
    error, raised rather than guessed around. Read again only when a file changes."""
    paths = baseline_files(db_type)
    key = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    if key not in _parsed:
        if len(_parsed) > 32:
            _parsed.clear()
        _parsed[key] = _read(paths)
    return list(_parsed[key])


def _read(paths: list[Path]) -> list[Migration]:
    found: list[Migration] = []
    seen: dict[str, str] = {}
    for path in paths:
        match = FILE_NAME.match(path.name)
        if match is None:
            raise ImproperlyConfigured(
                f"{path}: tenant migration files are named NNNN_name.sql (four digits)"
            )
        version = match["version"]
        if version in seen:
            raise ImproperlyConfigured(f"{path}: version {version} already used by {seen[version]}")
        seen[version] = path.name
        text = path.read_text(encoding="utf-8")
        found.append(Migration(version, match["name"], path, checksum(text), text))
    return found


def latest_version(db_type: str) -> str:
    """The newest version of ``db_type``'s files ("" without any)."""
    files = migrations(db_type)
    return files[-1].version if files else ""


@dataclass(frozen=True)
class Applied:
    """A row of a tenant's ``schema_version`` table (``checksum`` None: recorded before
    versioning)."""

    version: str
    checksum: str | None = None
    name: str = ""
    applied_at: dt.datetime | None = None


@dataclass
class SchemaState:
    """What a tenant database records: whether it has the table, whether the table has
    the checksum column yet, and its rows."""

    has_table: bool = False
    has_checksums: bool = False
    applied: list[Applied] = field(default_factory=list)

    @property
    def current(self) -> str:
        return max((a.version for a in self.applied), default="")

    @property
    def adopted(self) -> bool:
        """False for a database from before versioning (rows without checksums)."""
        return not self.has_table or (self.has_checksums and all(a.checksum for a in self.applied))


@dataclass
class Comparison:
    """A tenant's state against the files, up to ``target``."""

    current: str
    target: str
    pending: list[Migration]
    drift: list[str]
    adopted: bool

    @property
    def behind(self) -> bool:
        return bool(self.pending)

    @property
    def drifted(self) -> bool:
        return bool(self.drift)


def after_applying(
    state: SchemaState, files: list[Migration], applied: list[Migration]
) -> SchemaState:
    """What ``state`` becomes once adopted (checksums filled in from ``files`` where they
    were missing) and ``applied`` recorded — without reading it again."""
    by_version = {m.version: m for m in files}
    rows = [
        Applied(
            a.version,
            a.checksum or (by_version[a.version].checksum if a.version in by_version else None),
        )
        for a in state.applied
    ]
    rows += [Applied(m.version, m.checksum, m.name) for m in applied]
    return SchemaState(has_table=True, has_checksums=True, applied=rows)


def compare(state: SchemaState, files: list[Migration], target: str = "") -> Comparison:
    """What ``state`` lacks of ``files`` up to ``target`` (default: the newest), and any
    drift between what it recorded and the files."""
    target = target or (files[-1].version if files else "")
    by_version = {m.version: m for m in files}
    applied = {a.version: a for a in state.applied}
    drift: list[str] = []
    for row in sorted(state.applied, key=lambda a: a.version):
        migration = by_version.get(row.version)
        if migration is None:
            drift.append(_("已应用的版本 %(v)s 没有对应的迁移文件") % {"v": row.version})
        elif row.checksum and row.checksum != migration.checksum:
            drift.append(
                _("版本 %(v)s（%(n)s）的校验和与迁移文件不一致：应用后文件被修改过")
                % {"v": row.version, "n": migration.name}
            )
    current = state.current
    for migration in files:
        if migration.version < current and migration.version not in applied:
            drift.append(
                _("版本 %(v)s（%(n)s）未应用，但更高的版本 %(c)s 已应用")
                % {"v": migration.version, "n": migration.name, "c": current}
            )
    pending = [m for m in files if m.version not in applied and m.version <= target]
    return Comparison(current, target, pending, drift, state.adopted)
