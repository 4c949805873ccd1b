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
