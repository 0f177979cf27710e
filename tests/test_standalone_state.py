"""`mockwise serve` keeps its state across restarts, as a user runs it: real processes on a state
directory, Ctrl-C, a second start; `--fresh`, `--in-memory`, `mockwise reset`; a second server on
the same directory, and state files it cannot use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from mockwise._domain.tokens import token_key
from mockwise.testing._client import SandboxClient
from tests.helpers import bearer
from tests.jose_helpers import key_upload, new_key
from tests.linking import ALEX, LENA, PASSWORD, query_of
from tests.standalone import Served, context, serve

GRANT = {"grant_type": "client_credentials"}
PARTNER_SECRET = "sandbox-secret-for-local-use-only"
PARTNER = ("mockwise-partner", PARTNER_SECRET)


def control(served: Served) -> SandboxClient:
    return SandboxClient(served.doc["api_url"], verify=context(served.doc))


def mtls(served: Served, cert: str | None = None, key: str | None = None) -> httpx.Client:
    """A client of the mTLS host presenting the partner's certificate (or `cert`)."""
    client = served.doc["clients"][0]
    return httpx.Client(
        base_url=served.doc["mtls_api_url"],
        verify=context(served.doc, cert or client["cert"], key or client["key"]),
        timeout=10,
    )


def grant(served: Served, api: httpx.Client, **form: str) -> httpx.Response:
    """`POST /oauth/token` as the seeded partner (HTTP Basic)."""
    client = served.doc["clients"][0]
    return api.post("/oauth/token", data=form, auth=(client["client_id"], client["client_secret"]))


def mockwise(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mockwise", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_everything_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with serve(state) as served:
        assert "started fresh in" in served.read_banner()
        doc = served.doc
        partner, redirect_uri = doc["clients"][0]["client_id"], doc["clients"][0]["redirect_uris"][0]
        with control(served) as sandbox, mtls(served) as api:
            # a tenant made at runtime, with a client of its own
            other = sandbox.create_tenant("runtime", settings={"oauth.refresh_token_rotation": True})
            other.add_client(client_id="runtime-client", client_secret="runtime-secret")
            tenant = sandbox.tenant("default")
            tenant.clock.advance(7200)  # the tenant's clock, two hours ahead
            cc = grant(served, api, **GRANT).json()["access_token"]
            # a user created over API, its tokens, a refresh that supersedes the first access token
            made = api.post(
                "/v1/user/signup/registration_code",
                headers=bearer(cc),
                json={"email": "kept@example.com", "registrationCode": "k" * 32},
            )
            assert made.status_code == 200, made.text
            first = grant(
                served,
                api,
                grant_type="registration_code",
                client_id=partner,
                email="kept@example.com",
                registration_code="k" * 32,
            ).json()
            second = grant(
                served, api, grant_type="refresh_token", refresh_token=first["refresh_token"]
            ).json()
            # a linked user, and a code not exchanged yet
            authorize = (
                f"{doc['authorize_url']}?{urlencode({'client_id': partner, 'redirect_uri': redirect_uri})}"
            )
            code = query_of(tenant.link(authorize, email=ALEX, password=PASSWORD))["code"]
            unused = query_of(tenant.link(authorize, email=LENA, password=PASSWORD))["code"]
            exchange = {
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
                "client_id": partner,
            }
            linked = grant(served, api, **exchange, code=code).json()
            # a fault, a certificate issued at runtime, a JOSE key, an e-mail, a revocation
            tenant.faults.add("server_error", path="/v1/profiles", times=1)
            cert, key = tenant.certificate_files(partner, tmp_path)
            uploaded = api.post(
                "/v1/auth/jose/request/public-keys",
                headers=bearer(cc),
                json=key_upload(new_key("ES256"), "ES256"),
            )
            assert uploaded.status_code == 201
            api.post(
                "/v1/user/signup/registration_code",
                headers=bearer(cc),
                json={"email": LENA, "registrationCode": "x" * 32, "sendAuthorizationCodeAsEmail": True},
            )
            tenant.revoke_access(LENA)
            wise_key = {"scope": "PAYLOAD_SIGNING", "algorithm": "ES256"}  # made when first asked for
            api.get(
                "/v1/auth/jose/response/public-keys", params=wise_key, headers=bearer(cc)
            ).raise_for_status()
            jose = tenant.call("GET", "/jose")
            assert jose["sandbox_keys"] and jose["partner_keys"]
            offset = tenant.call("GET", "/clock")["offset"]
            journal = len(tenant.journal.entries())
        output = served.stop()
        assert served.process.returncode == 0 and "mockwise stopped; its state is in" in output

    with serve(state) as again:
        banner = again.read_banner()
        assert "restored 2 tenants, 7 users" in banner and "live tokens from" in banner, banner
        assert again.doc["clients"][0]["client_secret"] == "sandbox-secret-for-local-use-only"
        with control(again) as sandbox, mtls(again) as api, mtls(again, cert, key) as issued_at_runtime:
            tenant = sandbox.tenant("default")
            playground = api.get("/v1/authenticated/playground", headers=bearer(cc))
            assert playground.status_code == 200, playground.text  # a client-credentials token
            tokens = {"access": second["access_token"], "linked": linked["access_token"]}
            tokens["superseded"] = first["access_token"]
            me = {
                name: api.get("/v1/me", headers=bearer(value)).status_code for name, value in tokens.items()
            }
            assert me == {"access": 200, "linked": 200, "superseded": 401}
            # the refresh token still works, and supersedes the access token it replaces
            refreshed = grant(again, api, grant_type="refresh_token", refresh_token=second["refresh_token"])
            assert refreshed.status_code == 200, refreshed.text
            assert api.get("/v1/me", headers=bearer(second["access_token"])).status_code == 401
            # the code not exchanged before the restart still works, once
            assert grant(again, api, **exchange, code=unused).status_code == 200
            assert tenant.call("GET", "/clock")["offset"] == pytest.approx(offset, abs=5)
            assert api.get("/v1/profiles", headers=bearer(cc)).status_code == 500  # the fault fires
            runtime_cert = issued_at_runtime.post("/oauth/token", data=GRANT, auth=PARTNER)
            assert runtime_cert.status_code == 200, runtime_cert.text  # still registered
            assert tenant.call("GET", "/jose") == jose  # Wise's own keys (cached by clients), the partner's
            assert len(tenant.call("GET", "/mailbox")["mails"]) == 1
            assert len(tenant.journal.entries()) > journal  # the old entries, and today's
            states = {t["id"]: t["state"] for t in tenant.tokens()}
            assert states[token_key(linked["refresh_token"])[:16]] == "valid"
            other = sandbox.tenant("runtime")
            assert other.describe()["settings"]["oauth.refresh_token_rotation"] is True
            runtime = httpx.post(
                f"{again.doc['api_url']}/oauth/token",
                data=GRANT,
                auth=("runtime-client", "runtime-secret"),
                verify=context(again.doc),
            )
            assert runtime.status_code == 200, runtime.text


def test_fresh_in_memory_and_reset(tmp_path: Path) -> None:
    state = tmp_path / "state"

    def new_token(served: Served) -> str:
        made = httpx.post(f"{served.doc['api_url']}/oauth/token", data=GRANT, auth=PARTNER)
        return str(made.json()["access_token"])

    def known(served: Served, token: str) -> int:
        url = f"{served.doc['api_url']}/v1/authenticated/playground"
        return httpx.get(url, headers=bearer(token)).status_code

    with serve(state, "--http") as served:
        token = new_token(served)
        refused = mockwise("reset", "--state-dir", str(state))
        assert refused.returncode == 1 and "in use by another mockwise serve" in refused.stderr
        served.stop()
    with serve(state, "--http") as served:
        assert "restored 1 tenant" in served.read_banner() and known(served, token) == 200
    with serve(state, "--http", "--in-memory") as served:
        assert "in memory (--in-memory)" in served.read_banner() and known(served, token) == 401
    with serve(state, "--http") as served:
        assert known(served, token) == 200  # --in-memory left the state alone
    with serve(state, "--http", "--fresh") as served:
        assert "started fresh" in served.read_banner() and known(served, token) == 401
        token = new_token(served)
    with serve(state, "--http") as served:
        assert known(served, token) == 200
    done = mockwise("reset", "--state-dir", str(state))
    assert done.returncode == 0 and "the next start is fresh" in done.stdout
    assert (state / "sandbox.json").exists()  # only the state goes: credentials and keys stay
    with serve(state, "--http") as served:
        assert "started fresh" in served.read_banner() and known(served, token) == 401


def test_a_second_server_on_the_same_state_directory_refuses(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with serve(state, "--http") as served:
        second = mockwise("serve", "--http", "--port", "0", "--state-dir", str(state))
        assert second.returncode == 1
        assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
        assert f"in use by another mockwise serve (pid {served.process.pid})" in second.stderr


@pytest.mark.parametrize("damage", ["garbage", "newer"])
def test_a_state_file_it_cannot_use_gets_one_line_and_the_fix(tmp_path: Path, damage: str) -> None:
    import sqlite3

    state = tmp_path / "state"
    state.mkdir()
    path = state / "state.db"
    if damage == "garbage":
        path.write_bytes(b"not a database, whatever it is" * 200)
    else:
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA user_version = 99")
            db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value)")
    refused = mockwise("serve", "--http", "--port", "0", "--state-dir", str(state))
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert str(path) in refused.stderr and "--fresh" in refused.stderr
    with serve(state, "--http", "--fresh") as served:
        assert "started fresh" in served.read_banner()
