"""Production settings: `PRODUCTION=1 manage.py check --deploy` passes with no warning, and
production refuses to start on a development default (DEBUG, the development key, no
allowed hosts) instead of warning about it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

PRODUCTION_ENV = {
    "PRODUCTION": "1",
    "SECRET_KEY": "p" + "Xq7#vL2!mR9$kT4&wZ8*nB3^hY6@jC1%dF5(gH0)sA" * 2,
    "ALLOWED_HOSTS": "onboarding.example.com",
    "DATASOURCE_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "SMS_BACKEND": "aliyun",
    "BEHIND_TLS_PROXY": "1",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
}


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DEBUG",
            "DATABASE_URL",
            "PRODUCTION",
            "SECURE_COOKIES",
            "REDIS_URL",
            "CELERY_BROKER_URL",
            "DJANGO_ALLOW_ASYNC_UNSAFE",  # the browser tests' setting, never a deployment's
        }
    }
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_has_no_warnings():
    result = _run("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"DEBUG": "1"}, "DEBUG must be off in production"),
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set in production"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS must be set in production"),
        ({"SMS_BACKEND": "console"}, "SMS_BACKEND"),
        ({"DATASOURCE_ENCRYPTION_KEYS": ""}, "DATASOURCE_ENCRYPTION_KEYS"),
        ({"TWO_FACTOR_ENFORCED": "0"}, "TWO_FACTOR_ENFORCED=0 is for the local demo only"),
        ({"CELERY_BROKER_URL": ""}, "CELERY_BROKER_URL must name Redis or RabbitMQ"),
    ],
)
def test_production_refuses_development_defaults(override, message):
    env = {**PRODUCTION_ENV, **override}
    env = {k: v for k, v in env.items() if v != ""}
    result = _run("check", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_forces_secure_cookies_and_https():
    code = (
        "from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY,"
        " s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS >= 31536000)"
    )
    result = _run("shell", "-v", "0", "-c", code, SECURE_COOKIES="0", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"] * 5
