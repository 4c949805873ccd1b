"""The tenant password is write-only: never in errors, audit rows, run records, logs or
the SQL sent to the control database."""

import json
import logging

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.audit.models import AuditLog
from apps.core.errors import DomainError
from apps.customers.tests.factories import make_customer
from apps.datasources.models import DataSource, ProvisioningRun
from apps.datasources.services import (
    datasource_advance,
    datasource_check,
    datasource_configure,
    datasource_delete,
)

pytestmark = pytest.mark.django_db

WRONG = "Wrong#Pass2026"


def test_password_never_leaks(tenant, devops, ops, caplog):
    account, admin = tenant
    secrets_ = (account.password, WRONG)
    caplog.set_level(logging.DEBUG)
    messages: list[str] = []

    def attempt(fn, **kwargs):
        try:
            return fn(**kwargs)
        except DomainError as exc:
            messages.append(f"{exc.message} {json.dumps(exc.as_dict(), ensure_ascii=False)}")
            return None

    customer = make_customer(actor=ops, complete=True)
    with CaptureQueriesContext(connection) as queries:
        report = attempt(
            datasource_check, actor=devops, customer=customer, data=account.data(password=WRONG)
        )
        messages.append(json.dumps(report.as_dict(), ensure_ascii=False))
        attempt(
            datasource_configure, actor=devops, customer=customer, data=account.data(password=WRONG)
        )
        attempt(datasource_configure, actor=devops, customer=customer, data=account.data(port=1))
        attempt(
            datasource_configure,
            actor=devops,
            customer=customer,
            data=account.data(password="weak"),
        )
        ds = datasource_configure(actor=devops, customer=customer, data=account.data())
        attempt(datasource_configure, actor=devops, customer=customer, data=account.data())
        attempt(datasource_delete, actor=devops, datasource=ds, confirm_name="wrong")
        admin.run_in(ds.database, "INSERT INTO {db}.communities (name) VALUES ('x')")
        attempt(datasource_delete, actor=devops, datasource=ds, confirm_name=ds.name)
        datasource_advance(actor=devops, datasource=ds, to_status=1)

    assert len(messages) >= 7
    audit_rows = json.dumps(
        list(AuditLog.objects.values()), cls=DjangoJSONEncoder, ensure_ascii=False
    )
    runs = json.dumps(
        list(ProvisioningRun.objects.values()), cls=DjangoJSONEncoder, ensure_ascii=False
    )
    logs = "\n".join(
        [caplog.text]
        + [r.getMessage() for r in caplog.records]
        + [str(r.args) for r in caplog.records]
    )
    sql = "\n".join(q["sql"] for q in queries.captured_queries)
    assert "datasource_configure_failed" in audit_rows and "检测" in logs
    for secret in secrets_:
        for where, text in {
            "error messages": "\n".join(messages),
            "audit rows": audit_rows,
            "provisioning runs": runs,
            "logs": logs,
            "control-database SQL": sql,
        }.items():
            assert secret not in text, f"password found in {where}"
    # Stored only encrypted.
    stored = DataSource.objects.values_list("password_encrypted", flat=True).get()
    assert account.password not in stored
