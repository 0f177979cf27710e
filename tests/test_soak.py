"""Soak: many connections at once, for a bounded time, over real sockets, mixing every grant, API
calls, refreshes racing on the same user, clock moves and faults, in two tenants and with requests
that name no tenant. Afterwards the sandbox must show: no 5xx but the injected ones, exactly one
journal entry per request sent (none dropped, none doubled), and at most one valid access token per
refresh chain, the chain's newest, whenever that one has not expired or been revoked.

`MOCKWISE_SOAK_SECONDS` sets how long the load runs (default 15)."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from mockwise._domain.tokens import Link, TokenKind, TokenState
from mockwise._http.app import create_app
from mockwise._transport.sockets import Listener
from mockwise.testing._client import SandboxClient
from tests.helpers import bearer, created_user, partner, serving
from tests.linking import authorize_url, query_of

pytestmark = pytest.mark.slow

SECONDS = float(os.environ.get("MOCKWISE_SOAK_SECONDS", "15"))
WORKERS = 12  # each with its own keep-alive connection (plus racers and the control plane's)
RACERS = 3  # workers refreshing one user's token at the same moment
FAULTS: tuple[dict[str, object], ...] = (
    {"kind": "server_error", "status": 503, "path": "/v1/*"},
    {"kind": "server_error", "status": 500, "path": "/oauth/token"},
    {"kind": "gateway_html", "path": "/v1/*"},
    {"kind": "connection_reset", "path": "/v1/*"},
    {"kind": "rate_limited", "retry_after": 1, "path": "/oauth/token"},
    {"kind": "invalid_token"},
    {"kind": "invalid_grant"},
)


@dataclass
class Site:
    """One tenant under load: its credentials and the refresh chains its workers opened."""

    tenant: Tenant
    creds: Credentials
    control: SandboxClient
    chains: list[str] = field(default_factory=list)  # refresh tokens
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_chain(self, tokens: dict[str, object]) -> None:
        with self.lock:
            self.chains.append(str(tokens["refresh_token"]))

    def any_chain(self, rng: random.Random) -> str | None:
        with self.lock:
            return rng.choice(self.chains) if self.chains else None


@dataclass
class Tally:
    """What the workers did, summed under a lock."""

    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    resets: int = 0
    surprises: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sending(self) -> None:
        with self.lock:
            self.sent += 1

    def got(self, status: int | None, what: str, allowed: set[int]) -> None:
        with self.lock:
            if status is None:
                self.resets += 1
                return
            self.statuses[status] += 1
            if status not in allowed | {429, 500, 502, 503}:  # injected faults may answer anything 5xx
                self.surprises.append(f"{what} -> {status}")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Sandbox, str]]:
    sandbox = Sandbox()
    listener = Listener("api")
    with serving(create_app(sandbox), listener):
        yield sandbox, listener.url


def together(calls: list[Callable[[], None]]) -> None:
    """Run the calls on threads of their own, at once, and wait for all of them."""
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class Worker:
    def __init__(self, url: str, sites: list[Site], tally: Tally, seed: int) -> None:
        self.url, self.sites, self.tally = url, sites, tally
        self.rng = random.Random(seed)
        self.http = httpx.Client(base_url=url, timeout=30)

    def request(
        self, what: str, allowed: set[int], method: str, path: str, **kw: object
    ) -> httpx.Response | None:
        self.tally.sending()
        try:
            response = self.http.request(method, path, **kw)  # type: ignore[arg-type]
        except httpx.TransportError:  # an injected connection reset
            self.tally.got(None, what, allowed)
            return None
        self.tally.got(response.status_code, what, allowed)
        return response

    def token(self, site: Site, form: dict[str, str]) -> dict[str, object] | None:
        response = self.request(
            f"grant {form['grant_type']}", {200, 400, 401}, "POST", "/oauth/token",
            auth=partner(site.creds), data=form,
        )  # fmt: skip
        if response is None or response.status_code != 200:
            return None
        body: dict[str, object] = response.json()
        return body

    # Moves ---------------------------------------------------------------------------------------

    def partner_call(self, site: Site) -> None:
        tokens = self.token(site, {"grant_type": "client_credentials"})
        if tokens is not None:
            self.request(
                "users/exists", {200, 401}, "POST", "/v1/users/exists",
                headers=bearer(str(tokens["access_token"])), json={"email": "nobody@example.com"},
            )  # fmt: skip

    def create_user(self, site: Site) -> None:
        tokens = self.token(site, {"grant_type": "client_credentials"})
        if tokens is None:
            return
        email = f"soak.{self.rng.getrandbits(64):x}@example.com"
        code = f"{self.rng.getrandbits(192):048x}"
        made = self.request(
            "signup", {200, 401}, "POST", "/v1/user/signup/registration_code",
            headers=bearer(str(tokens["access_token"])), json={"email": email, "registrationCode": code},
        )  # fmt: skip
        if made is not None and made.status_code == 200:
            self.registration_grant(site, email, code)

    def registration_grant(self, site: Site, email: str, code: str) -> None:
        client_id = site.creds.clients[0]["client_id"]
        form = {"grant_type": "registration_code", "client_id": client_id, "email": email}
        tokens = self.token(site, {**form, "registration_code": code})
        if tokens is not None:
            site.add_chain(tokens)

    def seeded_registration(self, site: Site) -> None:
        user = created_user(site.creds)
        self.registration_grant(site, user["email"], user["registration_code"])

    def link(self, site: Site) -> None:
        client = site.creds.clients[0]
        person = self.rng.choice([u for u in site.creds.users if u["password"]])
        redirect = site.control.tenant(site.creds.tenant).link(
            authorize_url(site.creds, self.url, state="s"), email=person["email"], password=person["password"]
        )
        code = query_of(redirect)["code"]
        form = {"grant_type": "authorization_code", "client_id": client["client_id"], "code": code}
        tokens = self.token(site, {**form, "redirect_uri": client["redirect_uris"][0]})
        if tokens is not None:
            site.add_chain(tokens)

    def user_call(self, site: Site) -> None:
        refresh = site.any_chain(self.rng)
        if refresh is None:
            return
        tokens = self.token(site, {"grant_type": "refresh_token", "refresh_token": refresh})
        if tokens is not None:
            path = self.rng.choice(["/v1/me", "/v2/profiles"])
            self.request(path, {200, 401, 403}, "GET", path, headers=bearer(str(tokens["access_token"])))

    def race(self, site: Site) -> None:
        """Several workers refresh one user's token at the same moment, then use what they got."""
        refresh = site.any_chain(self.rng)
        if refresh is None:
            return
        barrier = threading.Barrier(RACERS)
        racers = [Worker(self.url, self.sites, self.tally, self.rng.getrandbits(32)) for _ in range(RACERS)]

        def run(racer: Worker) -> None:
            barrier.wait()
            tokens = racer.token(site, {"grant_type": "refresh_token", "refresh_token": refresh})
            if tokens is not None:  # all but one may get 401: another racer's refresh replaced it
                racer.request(
                    "race /v1/me", {200, 401}, "GET", "/v1/me", headers=bearer(str(tokens["access_token"]))
                )

        together([lambda racer=racer: run(racer) for racer in racers])
        for racer in racers:
            racer.http.close()

    def stranger(self, site: Site) -> None:
        """Requests that name no tenant: an unknown client, an unknown bearer token."""
        self.request(
            "unknown client", {401}, "POST", "/oauth/token",
            auth=("no-such-client", "secret"), data={"grant_type": "client_credentials"},
        )  # fmt: skip
        self.request("unknown token", {401}, "GET", "/v1/me", headers=bearer("not-a-token"))

    def move_clock(self, site: Site) -> None:
        seconds = self.rng.choice([1, 60, 299, 3600, 43199, 43201])
        site.control.tenant(site.creds.tenant).clock.advance(seconds)

    def fault(self, site: Site) -> None:
        spec = dict(self.rng.choice(FAULTS))
        site.control.tenant(site.creds.tenant).faults.add(str(spec.pop("kind")), times=1, **spec)

    def run(self, until: float) -> None:
        moves: list[tuple[Callable[[Site], None], int]] = [
            (self.partner_call, 6), (self.create_user, 3), (self.seeded_registration, 2), (self.link, 2),
            (self.user_call, 8), (self.race, 2), (self.stranger, 1), (self.move_clock, 1), (self.fault, 1),
        ]  # fmt: skip
        actions, weights = zip(*moves, strict=True)
        try:
            while time.monotonic() < until:
                self.rng.choices(actions, weights)[0](self.rng.choice(self.sites))
        except Exception as exc:  # reported below, with the move that raised it
            with self.tally.lock:
                self.tally.surprises.append(f"worker raised {type(exc).__name__}: {exc}")
        finally:
            self.http.close()


def test_soak(served: tuple[Sandbox, str]) -> None:
    sandbox, url = served
    sites = []
    for _ in range(2):
        tenant, creds = sandbox.create_tenant()
        tenant.clock.freeze()
        sites.append(Site(tenant, creds, SandboxClient(url)))
    tally = Tally()
    unrouted_before = len(sandbox.unrouted)
    until = time.monotonic() + SECONDS
    workers = [Worker(url, sites, tally, seed) for seed in range(WORKERS)]
    together([lambda w=w: w.run(until) for w in workers])
    for site in sites:
        site.control.close()

    print(f"soak: {tally.sent} requests, statuses {dict(tally.statuses)}, {tally.resets} resets")
    assert tally.surprises == []
    assert tally.sent > 20 * WORKERS, "the load barely ran"
    # One journal entry per request sent: none lost, none doubled, nothing dropped by the cap.
    journaled = sum(len(site.tenant.journal) for site in sites) + len(sandbox.unrouted) - unrouted_before
    assert all(site.tenant.journal.dropped == 0 for site in sites) and sandbox.unrouted.dropped == 0
    assert journaled == tally.sent
    # No 5xx but the injected ones.
    for site in sites:
        unexplained = [e for e in site.tenant.journal if e.status >= 500 and e.fault is None]
        assert unexplained == []
    assert not [e for e in sandbox.unrouted if e.status >= 500]
    # Each refresh chain: at most one valid access token, and it is the chain's newest.
    for site in sites:
        now = site.tenant.clock.now()
        links: set[Link] = {t.link for t in site.tenant.store if t.link is not None}
        assert links, "no refresh chain was opened"
        for link in links:
            valid = [
                t
                for t in link.history.values()
                if t.kind is TokenKind.USER and t.state(now) is TokenState.VALID
            ]
            newest = link.access
            if newest is not None and newest.state(now) is TokenState.VALID:
                assert valid == [newest]
            else:
                assert valid == []
