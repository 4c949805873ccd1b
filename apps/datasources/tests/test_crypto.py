"""Passwords encrypted at rest; keys from the environment; rotation re-encrypts all."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from apps.audit.models import AuditLog
from apps.core import crypto
from apps.customers.tests.factories import make_customer
from apps.datasources.models import DataSource, ProvisioningRun
from apps.datasources.tests.factories import make_datasource

ROOT = Path(__file__).resolve().parents[3]


def test_round_trip_and_ciphertext_hides_the_secret(settings):
    settings.DATASOURCE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    token = crypto.encrypt("Tenant#2026pw")
    assert "Tenant#2026pw" not in token and token != crypto.encrypt("Tenant#2026pw")
    assert crypto.decrypt(token) == "Tenant#2026pw"


def test_development_key_is_derived_from_secret_key(settings):
    settings.DATASOURCE_ENCRYPTION_KEYS = []
    token = crypto.encrypt("Tenant#2026pw")
    derived = Fernet(crypto.development_key(settings.SECRET_KEY))
    assert derived.decrypt(token.encode()).decode() == "Tenant#2026pw"
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789abcdef"
    with pytest.raises(crypto.InvalidToken):
        crypto.decrypt(token)


def test_malformed_key_is_refused_without_echoing_it(settings):
    settings.DATASOURCE_ENCRYPTION_KEYS = ["not-a-valid-key"]
    with pytest.raises(ImproperlyConfigured) as exc:
        crypto.validate_keys()
    assert "not-a-valid-key" not in str(exc.value) and "#1" in str(exc.value)


def _settings_import(**env) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"DATASOURCE_ENCRYPTION_KEYS", "DEBUG"}
    }
    clean.update({"ALLOWED_HOSTS": "onboarding.example.com", **env})
    return subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_keys():
    secret = "a-real-production-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
    result = _settings_import(PRODUCTION="1", SECRET_KEY=secret, SMS_BACKEND="aliyun")
    assert result.returncode != 0
    assert "DATASOURCE_ENCRYPTION_KEYS must be set in production" in result.stderr
    key = Fernet.generate_key().decode()
    result = _settings_import(
        PRODUCTION="1",
        SECRET_KEY=secret,
        DATASOURCE_ENCRYPTION_KEYS=key,
        SMS_BACKEND="aliyun",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/1",
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_rotation_command_re_encrypts_every_secret_with_the_current_key(settings, ops):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.DATASOURCE_ENCRYPTION_KEYS = [old]
    rows = [make_datasource(make_customer(actor=ops)) for _ in range(3)]
    before = {ds.pk: ds.password_encrypted for ds in rows}
    queued = ProvisioningRun.objects.create(
        customer=rows[0].customer, name="DS-Q-1", database="q_1", db_type="mysql",
        host="10.0.3.12", port=3306, username="tenant_app",
        secret_encrypted=crypto.encrypt("Queued#2026pw"),
    )  # fmt: skip

    # New key first, old key still present: everything still decrypts, then rotate.
    settings.DATASOURCE_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_datasource_keys", "--dry-run")
    assert {ds.pk: ds.password_encrypted for ds in DataSource.objects.all()} == before
    call_command("rotate_datasource_keys")

    # Old key removed: every password still reads, and only the new key opens them.
    settings.DATASOURCE_ENCRYPTION_KEYS = [new]
    for ds in DataSource.objects.all():
        assert ds.password_encrypted != before[ds.pk]
        assert ds.get_password() == "Tenant#2026pw"
        assert Fernet(new.encode()).decrypt(ds.password_encrypted.encode())
        with pytest.raises(crypto.InvalidToken):
            Fernet(old.encode()).decrypt(ds.password_encrypted.encode())
    queued.refresh_from_db()
    assert crypto.decrypt(queued.secret_encrypted) == "Queued#2026pw"
    with pytest.raises(crypto.InvalidToken):
        Fernet(old.encode()).decrypt(queued.secret_encrypted.encode())
    row = AuditLog.objects.get(action="datasource_rotate_keys")
    assert "3" in row.message and "Tenant#2026pw" not in row.message


@pytest.mark.django_db
def test_rotation_refuses_when_a_secret_cannot_be_decrypted(settings, ops):
    settings.DATASOURCE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    ds = make_datasource(make_customer(actor=ops))
    settings.DATASOURCE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError) as exc:
        call_command("rotate_datasource_keys")
    assert ds.name in str(exc.value)
    assert DataSource.objects.get(pk=ds.pk).password_encrypted == ds.password_encrypted
