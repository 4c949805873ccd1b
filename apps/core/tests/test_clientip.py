"""The client IP rules: the header is read from the right, only through trusted proxies;
login throttling and audit rows use the same address."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse

from apps.core.clientip import client_ip

PROXY1, PROXY2 = "10.0.0.4", "10.0.0.5"
CLIENT = "203.0.113.9"
FORGED = "1.2.3.4"


def ip(settings, remote: str, forwarded: str | None = None, *, count=0, networks=()) -> str:
    settings.TRUSTED_PROXY_COUNT = count
    settings.TRUSTED_PROXY_NETWORKS = list(networks)
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **extra))


def test_without_a_proxy_the_header_is_ignored(settings):
    assert ip(settings, CLIENT, FORGED) == CLIENT
    assert ip(settings, CLIENT) == CLIENT


def test_one_trusted_proxy_takes_the_right_most_hop(settings):
    # The client wrote "1.2.3.4" itself; the proxy appended what it saw.
    assert ip(settings, PROXY2, f"{FORGED}, {CLIENT}", count=1) == CLIENT
    assert ip(settings, PROXY2, CLIENT, count=1) == CLIENT
    assert ip(settings, PROXY2, None, count=1) == PROXY2


def test_two_trusted_proxies(settings):
    chain = f"{FORGED}, {CLIENT}, {PROXY1}"
    assert ip(settings, PROXY2, chain, count=2) == CLIENT
    # With only one configured, the first proxy is taken for the client: never the forgery.
    assert ip(settings, PROXY2, chain, count=1) == PROXY1


def test_trusted_networks_skip_every_proxy_and_no_more(settings):
    nets = ["10.0.0.0/8"]
    assert ip(settings, PROXY2, f"{FORGED}, {CLIENT}, {PROXY1}", networks=nets) == CLIENT
    # A client that reaches the app directly cannot pick its address by a header.
    assert ip(settings, CLIENT, FORGED, networks=nets) == CLIENT


@pytest.mark.parametrize(
    "header",
    ["junk", f"{CLIENT}, not-an-ip", "", " , ,", "999.1.1.1", f"{CLIENT}\x00"],
)
def test_garbage_in_the_header_falls_back_to_what_a_proxy_vouched_for(settings, header):
    assert ip(settings, PROXY2, header, count=1) in (PROXY2, CLIENT)
    assert ip(settings, PROXY2, header, count=1) != FORGED


def test_ports_and_ipv6_forms(settings):
    assert ip(settings, PROXY2, "[2001:db8::7]:443", count=1) == "2001:db8::7"
    assert ip(settings, PROXY2, "203.0.113.9:51234", count=1) == CLIENT
    assert ip(settings, "::ffff:203.0.113.9") == CLIENT


LOGIN_URL = reverse("accounts:login")


def _login(client, username, password, forwarded):
    return client.post(
        LOGIN_URL,
        {"username": username, "password": password},
        REMOTE_ADDR=PROXY2,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


@pytest.mark.django_db
def test_lockout_is_by_username_and_the_real_ip_behind_the_proxy(client, settings, ops):
    """Behind one proxy, an attacker who fails five times locks only their own address for
    that account — forging the left-most hop changes nothing — and the owner, from another
    address behind the same proxy, still logs in."""
    from django.test import Client

    settings.TRUSTED_PROXY_COUNT = 1
    attacker = "198.51.100.66"
    for attempt in range(5):
        _login(client, "ops1", f"Wrong-{attempt}!Aa", f"{FORGED}{attempt}, {attacker}")
    locked = _login(client, "ops1", "Pa$$w0rd!x", f"9.9.9.9, {attacker}")
    assert locked.status_code == 429
    owner = _login(Client(), "ops1", "Pa$$w0rd!x", CLIENT)
    assert owner.status_code == 302

    from apps.audit.models import AuditLog

    failed = AuditLog.objects.filter(action="login_failed").values_list("ip", flat=True)
    assert set(failed) == {attacker}
    assert AuditLog.objects.get(action="login").ip == CLIENT
