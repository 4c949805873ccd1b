import pytest


@pytest.mark.django_db
def test_healthz_and_readyz_answer_without_login(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


@pytest.mark.django_db
def test_console_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_login_page_is_chinese(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "登录" in body and 'lang="zh-CN"' in body


@pytest.mark.django_db
def test_dashboard_renders_for_ops(client_for, ops):
    response = client_for(ops).get("/")
    assert response.status_code == 200
    assert "工作台" in response.content.decode()


@pytest.mark.django_db
def test_deep_pages_read_keys_first_and_keep_order(ops, settings):
    from apps.core import listing
    from apps.customers.models import Customer
    from apps.customers.tests.factories import make_customer

    for i in range(12):
        make_customer(actor=ops, name=f"分页{i:02d}")
    qs = Customer.objects.order_by("name")
    listing.DEFERRED_JOIN_OFFSET, old = 3, listing.DEFERRED_JOIN_OFFSET
    try:
        deep = listing.page_rows(qs, 5, 9)
    finally:
        listing.DEFERRED_JOIN_OFFSET = old
    assert [c.name for c in deep] == [f"分页{i:02d}" for i in range(5, 9)]
    assert [c.name for c in listing.page_rows(qs, 0, 3)] == ["分页00", "分页01", "分页02"]


@pytest.fixture
def broker(settings):
    """Point the task queue at another broker for one test."""
    from celery import current_app

    saved = current_app.conf.broker_url, current_app.conf.broker_transport_options

    def use(url: str, options: dict | None = None) -> None:
        current_app.conf.broker_url = url
        current_app.conf.broker_transport_options = options or {}

    yield use
    current_app.conf.broker_url, current_app.conf.broker_transport_options = saved


@pytest.mark.django_db(transaction=True)  # the probe reads on its own connection
def test_readyz_reports_the_queue_and_the_last_worker_heartbeat(client):
    from apps.core.tasks import heartbeat

    body = client.get("/readyz").json()
    assert body == {"status": "ok", "database": "ok", "queue": "ok", "worker_seen_seconds": None}
    heartbeat()  # what a worker does when beat queues it
    body = client.get("/readyz").json()
    assert body["status"] == "ok" and 0 <= body["worker_seen_seconds"] < 5


@pytest.mark.django_db
def test_readyz_answers_503_when_the_broker_refuses(client, broker):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    broker(f"redis://127.0.0.1:{port}/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {**response.json(), "database": "ok", "queue": "down"}


@pytest.mark.django_db
def test_readyz_answers_503_in_time_when_the_broker_never_answers(client, broker, settings):
    import time

    from tests.test_blackhole_database import BlackHole

    hole = BlackHole()
    settings.READYZ_TIMEOUT = 2
    try:
        broker(f"redis://127.0.0.1:{hole.port}/0")
        started = time.monotonic()
        response = client.get("/readyz")
        took = time.monotonic() - started
    finally:
        hole.close()
    assert response.status_code == 503 and response.json()["queue"] == "down"
    assert took < 4, took


@pytest.mark.django_db
def test_readyz_answers_503_when_the_queue_folder_is_gone(client, broker, tmp_path):
    broker("filesystem://localhost/", {"data_folder_in": str(tmp_path / "missing")})
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["queue"] == "down"


@pytest.mark.django_db
def test_readyz_with_a_live_redis_broker(client, broker):
    broker("redis://127.0.0.1:6379/0")
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["queue"] == "ok"
