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
