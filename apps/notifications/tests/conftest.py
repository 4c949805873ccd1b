"""``fake``: the SMS tests' local HTTP server (``provider``, from ``apps.sms.tests.fixtures``)
standing in for the 企业微信 and 钉钉 robots: it records every request and answers what the
test sets."""

import pytest

OK = {"errcode": 0, "errmsg": "ok"}


@pytest.fixture
def fake(provider, settings):
    provider.body = OK
    settings.ROBOT_TIMEOUT = 2
    settings.ROBOT_MAX_ATTEMPTS = 3
    return provider
