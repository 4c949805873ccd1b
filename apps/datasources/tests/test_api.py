"""The data-source REST API: the same services as the console, the same permissions."""

import pytest

from apps.accounts.tests.factories import make_token
from apps.api.tests.helpers import API, assert_error, bearer, call
from apps.audit.models import AuditLog
from apps.customers.tests.factories import make_customer
from apps.datasources.models import DataSource, DataSourceTombstone
from apps.datasources.provisioning import run_queued
from apps.datasources.tests.factories import make_datasource

pytestmark = pytest.mark.django_db

WRONG = "Wrong#Pass2026"
CREDENTIALS = {
    "name",
    "database",
    "host",
    "port",
    "username",
    "max_connections",
    "min_connections",
    "remarks",
    "server_version",
    "database_created",
    "schema_version",
    "schema_state",
}


@pytest.fixture
def customer(ops):
    return make_customer(actor=ops, complete=True)


def ds_url(customer, suffix: str = "") -> str:
    return f"{API}/customers/{customer.pk}/datasource{suffix}"


def test_get_none_configured(client_for, customer, devops, ops):
    for user in (devops, ops):
        body = assert_error(
            client_for(user).get(ds_url(customer)), 404, "datasource_not_configured"
        )
        assert body["message"] == "暂未配置数据源"


def test_get_status_only_for_ops_details_for_devops(client_for, customer, ops, devops, manager):
    ds = make_datasource(customer, actor=devops, host="192.0.2.9", username="tenant_api")
    for user in (ops, manager):
        body = client_for(user).get(ds_url(customer)).json()
        assert body["impl_status"] == "not_started" and body["impl_status_label"] == "未实施"
        assert body["db_type"] == "mysql" and body["configured_by"]["name"] == devops.display_name
        assert not CREDENTIALS & set(body), body
        assert "password" not in body
    body = client_for(devops).get(ds_url(customer)).json()
    assert set(body) >= CREDENTIALS
    assert body["host"] == "192.0.2.9" and body["username"] == "tenant_api"
    assert body["name"] == ds.name and body["next_status"] == "in_progress"
    assert "password" not in body and "password_encrypted" not in body
    assert "Tenant#2026pw" not in str(body)


def test_tokens_act_with_their_users_permissions(client, customer, ops, devops):
    make_datasource(customer, actor=devops)
    ops_token, devops_token = make_token(ops), make_token(devops)
    body = client.get(ds_url(customer), **bearer(ops_token)).json()
    assert "host" not in body
    assert "host" in client.get(ds_url(customer), **bearer(devops_token)).json()
    assert_error(
        call(
            client, "post", ds_url(customer, "/status"), {"to": "in_progress"}, **bearer(ops_token)
        ),
        403,
        "forbidden",
    )


def test_writes_are_refused_to_ops(client_for, customer, ops, manager, nobody, devops):
    make_datasource(customer, actor=devops)
    for user in (ops, manager, nobody):
        client = client_for(user)
        for method, path, body in (
            ("post", ds_url(customer), {"host": "x"}),
            ("post", ds_url(customer, "/check"), {"host": "x"}),
            ("post", ds_url(customer, "/status"), {"to": "in_progress"}),
            ("delete", ds_url(customer), {"confirm_name": "x"}),
            ("get", ds_url(customer, "/probe"), None),
        ):
            assert_error(call(client, method, path, body), 403, "forbidden")
    assert_error(client_for(nobody).get(ds_url(customer)), 403)
    assert DataSource.objects.get().impl_status == 0


def test_out_of_scope_is_404(client_for, customer, ops2, devops):
    make_datasource(customer, actor=devops)
    assert_error(client_for(ops2).get(ds_url(customer)), 404, "not_found")


def test_configure_check_advance_probe_delete(client_for, tenant, customer, devops):
    account, admin = tenant
    client = client_for(devops)

    report = call(client, "post", ds_url(customer, "/check"), account.data())
    assert report.status_code == 200, report.content
    body = report.json()
    assert body["ok"] is True and body["name"] == f"DS-{customer.enterprise_no}-1"
    assert {f["level"] for f in body["findings"]} <= {"ok", "warn"}
    assert {"reachable", "connection_budget"} <= {f["code"] for f in body["findings"]}

    queued = call(client, "post", ds_url(customer), account.data())
    assert queued.status_code == 202, queued.content
    run = queued.json()
    run_url = ds_url(customer, f"/runs/{run['id']}")
    assert queued["Location"] == run_url
    assert run["status"] == "queued" and run["name"] == f"DS-{customer.enterprise_no}-1"
    assert [s["status"] for s in run["steps"]] == ["pending"] * 5
    assert account.password not in queued.content.decode()
    assert_error(
        call(client, "post", ds_url(customer), account.data()), 409, "provisioning_in_progress"
    )
    run_queued(run["id"])  # the worker's part
    done = client.get(run_url).json()
    assert done["status"] == "succeeded" and done["datasource_id"]
    assert [s["status"] for s in done["steps"]] == ["ok"] * 5
    assert done["retryable"] is done["cleanable"] is done["leftovers"] is False
    assert client.get(ds_url(customer, "/runs")).json()[0]["id"] == run["id"]

    body = client.get(ds_url(customer)).json()
    assert body["name"] == f"DS-{customer.enterprise_no}-1" and body["id"] == done["datasource_id"]
    assert (body["schema_version"], body["schema_state"]) == ("0002", "current")
    assert body["host"] == account.host and body["impl_status"] == "not_started"
    assert body["database_created"] is True and "password" not in body
    assert admin.database_exists(body["database"])

    exists = call(client, "post", ds_url(customer), account.data())
    assert_error(exists, 409, "datasource_exists")
    assert_error(call(client, "post", ds_url(customer, "/check"), account.data()), 409)

    probe = client.get(ds_url(customer, "/probe")).json()
    assert probe["database_exists"] is True and probe["has_data"] is False
    assert probe["communities_online"] == 0

    advanced = call(client, "post", ds_url(customer, "/status"), {"to": "in_progress"})
    assert advanced.status_code == 200 and advanced.json()["impl_status"] == "in_progress"
    assert advanced.json()["deletable"] is False
    refused = call(client, "delete", ds_url(customer), {"confirm_name": body["name"]})
    assert_error(refused, 409, "datasource_in_use")
    assert admin.database_exists(body["database"])

    DataSource.objects.filter(pk=body["id"]).update(impl_status=0)
    wrong = call(client, "delete", ds_url(customer), {"confirm_name": "nope"})
    assert "confirm_name" in assert_error(wrong, 422)["fields"]
    deleted = call(client, "delete", ds_url(customer), {"confirm_name": body["name"]})
    assert deleted.status_code == 204 and deleted.content == b""
    assert DataSourceTombstone.objects.get().name == body["name"]
    assert not admin.database_exists(body["database"])
    actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {
        "datasource_check",
        "datasource_configure",
        "datasource_status",
        "datasource_delete",
    } <= actions


def test_a_failed_run_says_which_step_and_can_be_retried_or_cleaned_up(
    client_for, tenant, customer, devops, ops
):
    account, admin = tenant
    client = client_for(devops)
    queued = call(client, "post", ds_url(customer), account.data(password=WRONG))
    assert queued.status_code == 202
    run_url = queued["Location"]
    run_queued(queued.json()["id"])
    response = client.get(run_url)
    body = response.json()
    assert body["status"] == "failed" and body["failed_step"] == "check"
    assert "第 1 步「检测连接」失败" in body["message"]
    assert [s["status"] for s in body["steps"]] == ["failed"] + ["not_run"] * 4
    assert body["retryable"] is True and body["cleanable"] is True and body["leftovers"] is False
    assert WRONG not in response.content.decode()
    assert not DataSource.objects.exists() and admin.databases() == []

    retried = call(client, "post", run_url + "/retry", {})
    assert retried.status_code == 202 and retried.json()["attempts"] == 2
    assert retried.json()["status"] == "queued" and retried["Location"] == run_url
    assert_error(call(client, "post", run_url + "/retry", {}), 409, "run_not_retryable")
    run_queued(body["id"])
    cleaned = call(client, "post", run_url + "/cleanup", {})
    assert cleaned.status_code == 200, cleaned.content
    assert cleaned.json()["cleaned_at"] and cleaned.json()["retryable"] is False
    assert_error(call(client, "post", run_url + "/cleanup", {}), 409, "run_not_cleanable")
    assert_error(call(client_for(ops), "post", run_url + "/retry", {}), 403)
    other = make_customer(actor=ops, complete=True)
    assert_error(client.get(ds_url(other, f"/runs/{body['id']}")), 404)


def test_input_errors_are_422_with_fields(client_for, customer, devops):
    client = client_for(devops)
    body = assert_error(
        call(client, "post", ds_url(customer), {"username": "root", "password": "weak"}),
        422,
        "validation_error",
    )
    assert {"host", "port", "username", "password", "max_connections"} <= set(body["fields"])
    assert "weak" not in str(body)
    unknown = call(client, "post", ds_url(customer), {"name": "DS-x", "database": "x"})
    assert set(assert_error(unknown, 422)["fields"]) == {"name", "database"}
    bad_type = call(client, "post", ds_url(customer, "/check"), {"port": "abc"})
    assert assert_error(bad_type, 422)["fields"]["port"] == ["请输入整数"]


def test_status_moves_one_way(client_for, customer, devops):
    make_datasource(customer, actor=devops)
    client = client_for(devops)
    skip = call(client, "post", ds_url(customer, "/status"), {"to": "online"})
    assert_error(skip, 409, "invalid_transition")
    moved = call(client, "post", ds_url(customer, "/status"), {"to": "in_progress"})
    assert moved.status_code == 200
    back = call(client, "post", ds_url(customer, "/status"), {"to": "in_progress"})
    assert_error(back, 409, "invalid_transition")
    assert (
        call(client, "post", ds_url(customer, "/status"), {"to": "online"}).json()["next_status"]
        is None
    )
    bad = call(client, "post", ds_url(customer, "/status"), {"to": "not_started"})
    assert_error(bad, 422)


def test_there_is_no_edit(client_for, customer, devops):
    ds = make_datasource(customer, actor=devops)
    client = client_for(devops)
    for method in ("put", "patch"):
        response = call(client, method, ds_url(customer), {"host": "192.0.2.1"})
        assert_error(response, 405, "method_not_allowed")
    assert DataSource.objects.get(pk=ds.pk).host == ds.host


def test_probe_of_an_unreachable_server_is_409(client_for, customer, devops):
    make_datasource(customer, actor=devops, host="127.0.0.1", port=1)
    assert_error(client_for(devops).get(ds_url(customer, "/probe")), 409, "probe_failed")
