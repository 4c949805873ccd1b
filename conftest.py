"""Shared pytest fixtures: staff of every role, signed-in clients, and the no-skip rule.

With ``STRICT_NO_SKIP=1`` (set by the test script and CI) a skipped test fails the run:
tests that need MariaDB, PostgreSQL, Redis or Chromium must run, not quietly skip.
"""

from __future__ import annotations

import os

import pytest

from apps.accounts.tests.factories import make_staff

# Fixtures of the SMS code tests (a fresh cache, a movable clock), used by apps/sms and
# apps/leads tests; real tenant database servers (MariaDB, PostgreSQL) with least-privilege
# accounts.
pytest_plugins = ["apps.sms.tests.fixtures", "tests.tenant_fixtures"]


def pytest_collection_modifyitems(config, items):
    # Browser tests drive the live server; keep them last so fast tests report first.
    items.sort(key=lambda item: 1 if item.get_closest_marker("browser") else 0)


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("STRICT_NO_SKIP") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(
            f"STRICT_NO_SKIP: {len(skipped)} test(s) were skipped; every test must run.",
            red=True,
        )
        for report in skipped:
            reporter.write_line(f"  skipped: {report.nodeid} {report.longrepr}")
        session.exitstatus = 1


@pytest.fixture(autouse=True)
def _second_factor_optional(settings):
    """Tests sign staff in with ``force_login``; the second step is tested on its own
    (apps/accounts/tests/test_two_factor.py and the browser test), which turn it on."""
    settings.TWO_FACTOR_ENFORCED = False


@pytest.fixture(autouse=True)
def _no_pending_read_counts():
    """Counted reads live in the process until written: none crosses from one test to the
    next (tests that check them call ``apps.audit.tally.flush()``)."""
    from apps.audit import tally

    tally.discard()
    yield
    tally.discard()


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "private")},
        },
    }


@pytest.fixture
def ops(db):
    return make_staff("ops1", "ops", name="运营小王")


@pytest.fixture
def ops2(db):
    return make_staff("ops2", "ops", name="运营小李")


@pytest.fixture
def manager(db):
    return make_staff("mgr1", "ops_manager", name="主管老张")


@pytest.fixture
def devops(db):
    return make_staff("devops1", "devops", name="运维小赵")


@pytest.fixture
def admin_user(db):
    return make_staff("admin1", "admin", name="管理员")


@pytest.fixture
def nobody(db):
    """A signed-in account with no role at all."""
    return make_staff("norole", None, name="无角色")


@pytest.fixture
def client_for(client):
    """``client_for(user)`` → a test client signed in as ``user`` (None: anonymous)."""
    from django.test import Client

    def build(user):
        c = Client()
        if user is not None:
            c.force_login(user)
        return c

    return build
