"""Issue 9, finding 1: the attacks on log-in throttling, and that each of them now fails.

Spelling variants of a username, spoofed X-Forwarded-For headers, an attacker locking the admin
out, a guess spread over many addresses, and (against daphne, PostgreSQL and Redis) a burst of
parallel wrong passwords.
"""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client, RequestFactory
from pytest_django.fixtures import Settings
from requests.cookies import RequestsCookieJar

from config.security import client_address

PASSWORD = "alice-pass-123"
REFUSED = "Too many failed log-in attempts"
ATTACKER = "203.0.113.66"
PROXY = "10.0.0.2"


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    cache.clear()


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice", password=PASSWORD)


def log_in(client: Client, username: str, password: str, *, address: str = "192.0.2.1", forwarded_for: str = "") -> int:
    """POST the log-in form from `address`; the status code (200: refused credentials, 302: logged in, 429)."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response = client.post(
        "/login/", {"username": username, "password": password}, REMOTE_ADDR=address, headers=headers
    )
    if response.status_code == 200:
        assert "didn't match" in response.content.decode()
    if response.status_code == 429:
        assert REFUSED in response.content.decode()
    client.logout()
    return response.status_code


# --- The username as Django's form reads it -----------------------------------------------

FULL_WIDTH = "\uff41\uff4c\uff49\uff43\uff45"  # "alice" in full-width letters
VARIANTS = [" alice", "alice ", "\tALICE\n", FULL_WIDTH, "Alice"]


@pytest.mark.parametrize("variant", [" alice", "alice ", FULL_WIDTH])
def test_a_spelling_variant_logs_in_as_the_same_user(client: Client, alice: User, variant: str) -> None:
    # What makes the variants an attack: Django's form strips and NFKC-normalises the username.
    assert log_in(client, variant, PASSWORD) == 302


@pytest.mark.parametrize("spread", [False, True], ids=["from one address", "from many addresses"])
def test_spelling_variants_of_a_username_share_its_counters(
    client: Client, alice: User, settings: Settings, spread: bool
) -> None:
    def address(n: int) -> str:
        return f"198.51.100.{n}" if spread else "192.0.2.1"

    if spread:  # then only the username's own counter can stop them
        settings.LOGIN_MAX_FAILURES_PER_USERNAME = len(VARIANTS)
    assert len(VARIANTS) == settings.LOGIN_MAX_FAILURES
    assert [log_in(client, v, "wrong", address=address(n)) for n, v in enumerate(VARIANTS)] == [200] * len(VARIANTS)
    right = [log_in(client, v, PASSWORD, address=address(n + 10)) for n, v in enumerate(["alice", *VARIANTS])]
    assert right == [429] * (len(VARIANTS) + 1)


# --- The client's address ---------------------------------------------------------------


@pytest.mark.parametrize(
    "forwarded_for",
    [lambda n: f"198.51.100.{n}", lambda n: f"198.51.100.{n}, {ATTACKER}"],
    ids=["spoofed", "spoofed, real"],
)
def test_a_spoofed_forwarded_for_does_not_reset_the_per_address_limit(
    client: Client, db: None, settings: Settings, forwarded_for: Callable[[int], str]
) -> None:
    # No proxy is trusted (the default): the header is the attacker's own text.
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 5
    statuses = [log_in(client, f"user{n}", "wrong", address=ATTACKER, forwarded_for=forwarded_for(n)) for n in range(7)]
    assert statuses == [200] * 5 + [429] * 2


def test_behind_a_trusted_proxy_the_address_it_saw_is_limited(client: Client, alice: User, settings: Settings) -> None:
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    statuses = [
        log_in(client, "alice", "wrong", address=PROXY, forwarded_for=f"198.51.100.{n}, {ATTACKER}") for n in range(7)
    ]
    assert statuses == [200] * 5 + [429] * 2
    # Alice, behind the same proxy, is another address.
    assert log_in(client, "alice", PASSWORD, address=PROXY, forwarded_for="192.0.2.7") == 302


@pytest.mark.parametrize(
    ("remote", "forwarded_for", "expected"),
    [
        ("192.0.2.7", "", "192.0.2.7"),
        (ATTACKER, "192.0.2.7", ATTACKER),
        (ATTACKER, f"192.0.2.7, {PROXY}", ATTACKER),
        (PROXY, "", PROXY),
        (PROXY, "192.0.2.7", "192.0.2.7"),
        (PROXY, f"198.51.100.1, {ATTACKER}", ATTACKER),
        (PROXY, f"198.51.100.1,{ATTACKER}, 10.1.2.3", ATTACKER),
        (PROXY, "10.1.2.3", "10.1.2.3"),
        (f"::ffff:{PROXY}", "2001:db8::7", "2001:db8::7"),
        (PROXY, "not-an-address, 192.0.2.7", "192.0.2.7"),
    ],
)
def test_client_address_takes_the_rightmost_address_before_the_trusted_proxies(
    rf: RequestFactory, settings: Settings, remote: str, forwarded_for: str, expected: str
) -> None:
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    request = rf.post("/login/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded_for)
    assert client_address(request) == expected


# --- Lock-out without denial of service ---------------------------------------------------


def test_an_attacker_cannot_lock_the_admin_out_from_the_admins_address(
    client: Client, admin_user: User, settings: Settings
) -> None:
    attempts = settings.LOGIN_MAX_FAILURES_PER_USERNAME + 5
    statuses = [
        client.post("/admin/login/", {"username": "admin", "password": "wrong"}, REMOTE_ADDR=ATTACKER).status_code
        for _ in range(attempts)
    ]
    assert statuses == [200] * settings.LOGIN_MAX_FAILURES + [429] * (attempts - settings.LOGIN_MAX_FAILURES)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "admin", "password": "password"}, REMOTE_ADDR="192.0.2.10"
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_the_per_username_ceiling_stops_a_guess_from_many_addresses(
    client: Client, alice: User, settings: Settings
) -> None:
    ceiling = settings.LOGIN_MAX_FAILURES_PER_USERNAME
    assert ceiling > settings.LOGIN_MAX_FAILURES
    statuses = [log_in(client, "alice", "wrong", address=f"198.51.{n // 200}.{n % 200 + 1}") for n in range(ceiling)]
    assert statuses == [200] * ceiling
    assert log_in(client, "ALICE", "guess", address="198.51.100.250") == 429
    assert log_in(client, "alice", PASSWORD, address="192.0.2.99") == 429


def test_a_refusal_says_why_and_when_to_come_back(client: Client, alice: User, settings: Settings) -> None:
    for _ in range(settings.LOGIN_MAX_FAILURES):
        log_in(client, "alice", "wrong")
    response = client.post("/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="192.0.2.1")
    assert response.status_code == 429
    assert response.content.decode() == "Too many failed log-in attempts. Try again in 15 minutes."
    assert response.headers["Retry-After"] == str(settings.LOGIN_LOCKOUT_SECONDS)


# --- Against the real server: daphne (bin/serve), PostgreSQL and Redis -----------------------

PARALLEL = 20
LOCKOUT_SECONDS = 8


@pytest.fixture
def server(real_server: Callable[..., str]) -> Callable[..., str]:
    return real_server


def _login_form(base_url: str) -> tuple[str, RequestsCookieJar]:
    """As a fresh visitor: the log-in page's CSRF token and cookie."""
    page = requests.get(f"{base_url}/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text
    return token[1], page.cookies


def _post_login(
    base_url: str,
    username: str,
    password: str,
    *,
    form: tuple[str, RequestsCookieJar] | None = None,
    forwarded_for: str = "",
) -> requests.Response:
    token, cookies = form or _login_form(base_url)
    return requests.post(
        f"{base_url}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        cookies=cookies,
        headers={"X-Forwarded-For": forwarded_for} if forwarded_for else {},
        allow_redirects=False,
        timeout=60,
    )


@pytest.mark.integration
def test_the_real_server_believes_forwarded_for_only_from_a_trusted_proxy(server: Callable[..., str]) -> None:
    User.objects.create_user("alice", password=PASSWORD)
    limit = {"LOGIN_MAX_FAILURES_PER_ADDRESS": "5"}
    direct, behind_proxy = server(**limit), server(**limit, TRUSTED_PROXIES="127.0.0.1")

    # A client on 127.0.0.1 spoofing other addresses, alone or before its own.
    spoofed = [f"198.51.100.{n}" if n % 2 else f"198.51.100.{n}, 127.0.0.1" for n in range(7)]
    statuses = [
        _post_login(direct, f"user{n}", "wrong", forwarded_for=xff).status_code for n, xff in enumerate(spoofed)
    ]
    assert statuses == [200] * 5 + [429] * 2

    # Through a proxy on 127.0.0.1 (the test) that appends the address it saw to what the client sent.
    statuses = [
        _post_login(behind_proxy, f"user{n}", "wrong", forwarded_for=f"198.51.100.{n}, 192.0.2.66").status_code
        for n in range(7)
    ]
    assert statuses == [200] * 5 + [429] * 2
    assert _post_login(behind_proxy, "alice", PASSWORD, forwarded_for="192.0.2.7").status_code == 302


@pytest.mark.integration
def test_parallel_wrong_passwords_are_checked_at_most_the_limit(server: Callable[..., str], settings: Settings) -> None:
    User.objects.create_user("alice", password=PASSWORD)
    base_url = server(LOGIN_LOCKOUT_SECONDS=str(LOCKOUT_SECONDS))
    start = threading.Barrier(PARALLEL)

    def wrong_password() -> int:
        form = _login_form(base_url)
        start.wait(timeout=30)
        return _post_login(base_url, "alice", "wrong", form=form).status_code

    with ThreadPoolExecutor(PARALLEL) as pool:
        statuses = Counter(pool.map(lambda _: wrong_password(), range(PARALLEL)))

    assert statuses == {200: settings.LOGIN_MAX_FAILURES, 429: PARALLEL - settings.LOGIN_MAX_FAILURES}
    refused = _post_login(base_url, "alice", PASSWORD)
    assert refused.status_code == 429
    assert REFUSED in refused.text

    deadline = time.monotonic() + LOCKOUT_SECONDS + 30
    while (response := _post_login(base_url, "alice", PASSWORD)).status_code == 429:
        assert time.monotonic() < deadline, "still refused long after the lock-out expired"
        time.sleep(0.5)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
