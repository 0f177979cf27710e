"""Nothing a client was answered is lost when `mockwise serve` is killed (`kill -9`) under load.

Workers (threads, one user each) get client-credentials tokens, create links (registration_code),
refresh, and call `/v1/me`, recording every answer and every request left unanswered. The server is
killed with SIGKILL several times at random moments and started again on the same state directory;
at the end, every token is checked against what its clients were told:

- a token answered 200 is live, unless a later request that would supersede it was sent (then it is
  superseded if that request was answered, and may be either if it was not);
- a token the sandbox answered as dead (401, `invalid_grant`) stays dead.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from mockwise._domain.tokens import token_key
from tests.helpers import bearer
from tests.standalone import serve

KILLS = 4
WORKERS = 4
CLIENT = ("mockwise-partner", "sandbox-secret-for-local-use-only")

pytestmark = pytest.mark.slow


@dataclass
class Lineage:
    refresh: str
    access: list[str] = field(default_factory=list)  # oldest first; the last may be current


@dataclass
class Worker:
    """One user's tokens, and what the sandbox said about each (True: must be dead, False: must be
    live, None: either, because a request that would have ended it went unanswered)."""

    index: int
    email: str
    code: str
    dead: dict[str, bool | None] = field(default_factory=dict)
    lineage: Lineage | None = None
    answered: int = 0
    unanswered: int = 0

    def run(self, url: str, stop: threading.Event, seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=url, timeout=5) as http:
            while not stop.is_set():
                try:
                    self.step(http, rng)
                except httpx.TransportError:
                    self.unanswered += 1
                    return  # the server is gone: this round is over for this worker
                self.answered += 1

    def step(self, http: httpx.Client, rng: random.Random) -> None:
        roll = rng.random()
        if self.lineage is None or roll < 0.08:
            self.register(http)
        elif roll < 0.55:
            self.refresh(http)
        elif roll < 0.8:
            self.me(http, rng)
        else:
            self.client_credentials(http)

    def client_credentials(self, http: httpx.Client) -> None:
        answer = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=CLIENT)
        assert answer.status_code == 200, answer.text
        self.dead[answer.json()["access_token"]] = False

    def register(self, http: httpx.Client) -> None:
        old = self.lineage
        if old is not None and self.dead.get(old.refresh) is False:
            self.dead[old.refresh] = None  # a new link supersedes it, if this request is applied
        form = {"grant_type": "registration_code", "email": self.email, "registration_code": self.code}
        answer = http.post("/oauth/token", data={**form, "client_id": CLIENT[0]}, auth=CLIENT)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if old is not None:
            self.dead[old.refresh] = True  # answered: superseded (its last access token lives on)
        self.lineage = Lineage(body["refresh_token"], [body["access_token"]])
        self.dead[body["refresh_token"]] = self.dead[body["access_token"]] = False

    def refresh(self, http: httpx.Client) -> None:
        lineage = self.lineage
        assert lineage is not None
        for access in lineage.access:
            if self.dead.get(access) is False:
                self.dead[access] = None  # the link's current access token dies, if this is applied
        form = {"grant_type": "refresh_token", "refresh_token": lineage.refresh}
        answer = http.post("/oauth/token", data=form, auth=CLIENT)
        if answer.status_code == 400:  # an unanswered registration was applied after all
            assert answer.json()["error"] == "invalid_grant" and self.dead.get(lineage.refresh) is None
            self.dead[lineage.refresh] = True
            self.lineage = None
            return
        assert answer.status_code == 200, answer.text
        for access in lineage.access:
            self.dead[access] = True
        access = answer.json()["access_token"]
        lineage.access.append(access)
        self.dead[access] = False

    def me(self, http: httpx.Client, rng: random.Random) -> None:
        users = [t for t, dead in self.dead.items() if self.lineage and t in self.lineage.access]
        if not users:
            return
        value = rng.choice(users)
        answer = http.get("/v1/me", headers=bearer(value))
        if answer.status_code == 401:
            assert self.dead[value] is not False, "a token answered live before was refused"
            self.dead[value] = True
        else:
            assert answer.status_code == 200, answer.text
            assert self.dead[value] is not True, "a superseded token was accepted"


def test_every_answer_survives_sigkill(tmp_path: Path) -> None:
    state = tmp_path / "state"
    rng = random.Random(20_26)
    workers = [Worker(i, f"worker{i}@example.com", f"{i:x}" * 32) for i in range(WORKERS)]
    with serve(state, "--http") as served:
        url = served.doc["api_url"]
        httpx.patch(f"{url}/_mockwise/tenants/default/settings", json={"rate_limits.enabled": False})
        cc = httpx.post(f"{url}/oauth/token", data={"grant_type": "client_credentials"}, auth=CLIENT)
        for worker in workers:
            made = httpx.post(
                f"{url}/v1/user/signup/registration_code",
                headers=bearer(cc.json()["access_token"]),
                json={"email": worker.email, "registrationCode": worker.code},
            )
            assert made.status_code == 200, made.text
        served.stop()

    for kill in range(KILLS):
        with serve(state, "--http") as served:
            stop = threading.Event()
            threads = [
                threading.Thread(target=w.run, args=(served.doc["api_url"], stop, rng.random()), daemon=True)
                for w in workers
            ]
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.5, 2.0))  # traffic flows, then, at some moment:
            served.process.kill()
            served.process.wait()
            stop.set()
            for thread in threads:
                thread.join(10)
            assert not any(t.is_alive() for t in threads), f"a worker hung after kill {kill + 1}"

    with serve(state, "--http") as served:
        assert "restored 1 tenant" in served.read_banner()
        states: dict[str, str] = {}
        page: str | None = "/_mockwise/tenants/default/tokens?limit=1000"
        while page is not None:  # the listing pages, newest first
            listed = httpx.get(f"{served.doc['api_url']}{page}", timeout=60).json()
            states |= {t["id"]: t["state"] for t in listed["tokens"]}
            page = listed["next"]
    checked = 0
    for worker in workers:
        for value, dead in worker.dead.items():
            found = states.get(token_key(value)[:16], "unknown")
            assert found != "unknown", f"worker {worker.index}: a token it was answered with is gone"
            if dead is True:
                assert found == "superseded", f"worker {worker.index}: a dead token is {found} again"
            elif dead is False:
                assert found == "valid", f"worker {worker.index}: a live token is {found}"
            checked += 1
    answered = sum(w.answered for w in workers)
    assert answered > 200 and checked > 100, (answered, checked)  # the test did exercise something
