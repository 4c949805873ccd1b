"""The tenant-server fixtures live in tests/tenant_fixtures.py (shared with the browser
and cross-app tests); here every test gets this run's database-name prefix."""

import pytest


@pytest.fixture(autouse=True)
def _tenant_settings(tenant_settings):
    return tenant_settings
