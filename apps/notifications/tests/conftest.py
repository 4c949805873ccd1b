"""``fake``: a local http.server standing in for the 企业微信 and 钉钉 robots (the SMS tests'
fake provider: records every request, answers what the test sets)."""

import pytest

from apps.sms.tests.test_gateways import FakeProvider

OK = {"errcode": 0, "errmsg": "ok"}


@pytest.fixture
def fake(settings):
    server = FakeProvider()
    server.thread.start()
    server.body = OK
    settings.ROBOT_TIMEOUT = 2
    settings.ROBOT_MAX_ATTEMPTS = 3
    yield server
    server.server.shutdown()
    server.server.server_close()
