"""Builders for data sources: rows saved directly, without a tenant database."""

from __future__ import annotations

import itertools
from typing import Any

_seq = itertools.count(1)


def make_datasource(customer, *, actor=None, **fields: Any):
    """A data-source row saved directly, without a tenant database — for tests that only
    need the customer to have one configured (activation, status transitions)."""
    from apps.datasources.models import DataSource

    n = next(_seq)
    values: dict[str, Any] = {
        "name": f"DS-{customer.enterprise_no}-F{n}",
        "database": f"factory_{customer.pk}_{n}",
        "db_type": DataSource.DbType.MYSQL,
        "host": "10.0.3.12",
        "port": 3306,
        "username": "tenant_app",
        "max_connections": 10,
        "min_connections": 1,
        "configured_by": actor,
    }
    values.update(fields)
    datasource = DataSource(customer=customer, **values)
    datasource.set_password("Tenant#2026pw")
    datasource.save()
    from apps.customers.services import registry_changed

    registry_changed([customer.pk], listing=True)  # as provisioning lists it
    return datasource


# Tenant migrations for tests: the platform's 0001 and a first table.
BASE_MIGRATIONS = {
    "0001_schema_version.sql": "-- the platform's table\n",
    "0002_communities.sql": "CREATE TABLE communities (id int);\n",
}


def write_migrations(root, files: dict[str, str], db_types=("mysql", "postgresql")) -> None:
    """Write migration files ({file name: SQL}) for each server type under ``root``."""
    for db_type in db_types:
        folder = root / db_type
        folder.mkdir(parents=True, exist_ok=True)
        for name, sql in files.items():
            (folder / name).write_text(sql)
