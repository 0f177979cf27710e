"""Secrets never reach logs or the journal: a full flow over a real socket with every logger at
DEBUG, then every secret it used (client secret, password, registration code, authorization code,
access and refresh tokens, personal token) is looked for in the captured logs, the journal's JSON,
the token list and the dashboard. Secrets are kept hashed at rest: the sandbox holds digests only,
in memory and in the state database (`mockwise serve`'s state.db, its WAL included)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.tokens import token_key
from mockwise._http.app import create_app
from mockwise._store import SqliteStore
from mockwise._transport.sockets import Listener, Runner
from mockwise.testing._client import SandboxClient
from tests.helpers import bearer, created_user, partner, running, token
from tests.linking import authorize_url, query_of

CLIENT_SIDE = ("httpx", "httpcore")


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(CLIENT_SIDE):  # the test's own httpx logs its own requests
            self.lines.append(self.format(record))


@contextlib.contextmanager
def server_logs() -> Iterator[Records]:
    """Every server-side record at DEBUG. Entered after uvicorn configured its loggers (it does so
    when the server is built), so its own handlers do not replace this one. The access log is off
    (`Runner`: `access_log=False`) and must stay so: it would log a careless client's query string;
    uvicorn turns it on for a request when that logger has a handler, so none is added to it."""
    handler = Records()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def full_flow(sandbox: Sandbox, url: str) -> tuple[list[str], list[str]]:
    """Every grant, API calls and failures; answers the secrets used and what the control plane
    publishes about the tenant (journal, tokens, dashboard)."""
    tenant, creds = sandbox.create_tenant()
    client_id, client_secret = partner(creds)
    redirect_uri = creds.clients[0]["redirect_uris"][0]
    person = next(u for u in creds.users if u["password"])
    seeded = created_user(creds)
    personal = creds.personal_tokens[0]["token"]
    secrets = [client_secret, person["password"], seeded["registration_code"], personal]
    common = {"client_id": client_id}
    with httpx.Client(base_url=url) as http, SandboxClient(url) as control:

        def grant(**form: str) -> Any:
            body = token(http, creds, **form)
            secrets.extend(body[k] for k in ("access_token", "refresh_token") if k in body)
            return body

        partner_token = grant(grant_type="client_credentials")["access_token"]
        new_code = "c0ffee" * 8
        secrets.append(new_code)
        signup = {"email": "new.customer@example.com", "registrationCode": new_code}
        made = http.post("/v1/user/signup/registration_code", headers=bearer(partner_token), json=signup)
        assert made.status_code == 200
        user = grant(
            grant_type="registration_code", email=signup["email"], registration_code=new_code, **common
        )
        seeded_code = seeded["registration_code"]
        grant(grant_type="registration_code", email=seeded["email"], registration_code=seeded_code, **common)
        grant(grant_type="refresh_token", refresh_token=user["refresh_token"])
        linked = control.tenant(creds.tenant).link(
            authorize_url(creds, url, state="st"), email=person["email"], password=person["password"]
        )
        code = query_of(linked)["code"]
        secrets.append(code)
        tokens = grant(grant_type="authorization_code", code=code, redirect_uri=redirect_uri, **common)
        assert http.get("/v1/me", headers=bearer(tokens["access_token"])).status_code == 200
        assert http.get("/v1/me", headers=bearer(personal)).status_code == 200
        # Failures too: a wrong secret, a reused code, a secret sent in the URL by a careless client
        wrong = http.post("/oauth/token", auth=(client_id, client_secret + "x"), data={"grant_type": "x"})
        assert wrong.status_code == 401
        again = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, **common}
        assert http.post("/oauth/token", auth=(client_id, client_secret), data=again).status_code == 400
        http.post("/oauth/token", params={"client_secret": client_secret, "grant_type": "client_credentials"})
        assert http.get("/v1/me", headers=bearer(user["access_token"])).status_code == 401  # superseded
        assert len(tenant.journal) >= 10
        base = f"/_mockwise/tenants/{creds.tenant}"
        published = [http.get(f"{base}{path}").text for path in ("/journal", "/tokens", "/dashboard")]
    at_rest = repr(tenant.snapshot()) + repr(list(tenant.store))
    return secrets, [*published, repr(list(sandbox.unrouted)), at_rest]


@pytest.mark.parametrize("kept", ["in memory", "in state.db"])
def test_a_full_flow_leaves_no_secret_in_logs_or_journal(
    capfd: pytest.CaptureFixture[str], tmp_path: Path, kept: str
) -> None:
    database = tmp_path / "state.db"
    sandbox = Sandbox(store=SqliteStore(database) if kept == "in state.db" else None)
    listener = Listener("api")
    runner = Runner(create_app(sandbox), [listener], log_level="debug")  # before server_logs(): see there
    with server_logs() as logs, running(runner):
        secrets, published = full_flow(sandbox, listener.url)
    at_rest = ""
    if kept == "in state.db":  # the database file and its WAL as they are while running, then closed
        sandbox.flush()
        at_rest = "".join(f.read_bytes().decode("latin-1") for f in tmp_path.glob("state.db*"))
        sandbox.close()
        at_rest += database.read_bytes().decode("latin-1")
    captured = capfd.readouterr()
    assert logs.lines, "the server's logging reached the handler"
    access = logging.getLogger("uvicorn.access")
    assert not access.hasHandlers() and not access.propagate  # off: a query string is never logged
    places = dict(
        zip(["journal", "tokens", "dashboard", "unrouted journal", "tenant at rest"], published, strict=True)
    )
    places |= {"logs": "\n".join(logs.lines), "stdout": captured.out, "stderr": captured.err}
    places["state database"] = at_rest
    if kept == "in state.db":  # the tokens are in there, by hash
        hashes = [bytes.fromhex(token_key(s)).decode("latin-1") for s in secrets if s]
        assert sum(h in at_rest for h in hashes) >= 4
    leaks = [(where, s[:12]) for where, text in places.items() for s in secrets if s and s in text]
    assert leaks == [], [line[:300] for line in logs.lines if any(s in line for s in secrets)]
