"""Talking to tenant database servers: MySQL/MariaDB through PyMySQL, PostgreSQL through
psycopg 3 — one package, one module per concern:

- ``values`` — server types, findings, reports, ``TenantDBError``, timeouts, scrubbing;
- ``connector`` — the ``Connector`` interface (create/drop database, run the baseline,
  verify create/write/drop table, probe) that each server type implements in ``mysql``
  and ``postgresql``; ``servers.connector_for`` picks one;
- ``sqlfiles`` — the baseline schema files and splitting them into statements;
- ``versions`` — the files as ordered migrations with checksums, each tenant's
  ``schema_version`` table, and comparing the two (behind, drift);
- ``privileges`` — what an account may hold (grants, roles), as findings;
- ``preflight`` — 检测连接: reachability, version, character set, privileges, database
  state and the server's connection budget;
- ``probe`` — which tables of a tenant database hold rows (the delete guard).

Every connection has a connect timeout (``TENANT_CONNECT_TIMEOUT``, also bounding the
handshake) and a read/statement timeout (``TENANT_QUERY_TIMEOUT``). Failures become
``TenantDBError`` with a Chinese message built from our own templates: driver messages are
never shown raw and never contain the password.
"""

from .connector import Connector
from .mysql import MySQLConnector
from .postgresql import PostgresConnector
from .preflight import check_with, preflight
from .privileges import (
    mysql_database_findings,
    mysql_grant_findings,
    mysql_pattern_matches,
    pg_role_findings,
)
from .probe import probe
from .servers import connector_for
from .sqlfiles import baseline_files, split_sql
from .values import (
    ERROR,
    LEVEL_LABELS,
    MYSQL,
    OK,
    POSTGRESQL,
    WARN,
    Finding,
    PreflightReport,
    ProbeResult,
    Target,
    TenantDBError,
    connect_timeout,
    query_timeout,
    scrub,
)
from .versions import (
    Comparison,
    Migration,
    SchemaState,
    compare,
    latest_version,
    migrations,
)

__all__ = [
    "ERROR",
    "LEVEL_LABELS",
    "MYSQL",
    "OK",
    "POSTGRESQL",
    "WARN",
    "Comparison",
    "Connector",
    "Finding",
    "Migration",
    "MySQLConnector",
    "PostgresConnector",
    "PreflightReport",
    "ProbeResult",
    "SchemaState",
    "Target",
    "TenantDBError",
    "baseline_files",
    "check_with",
    "compare",
    "connect_timeout",
    "connector_for",
    "latest_version",
    "migrations",
    "mysql_database_findings",
    "mysql_grant_findings",
    "mysql_pattern_matches",
    "pg_role_findings",
    "preflight",
    "probe",
    "query_timeout",
    "scrub",
    "split_sql",
]
