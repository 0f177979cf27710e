"""The standalone server: a default tenant seeded from `fixtures/`, served on real sockets, and
`sandbox.json` written into the state directory once it is ready."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

from mockwise.domain.linking import AUTHORIZE_PATH
from mockwise.domain.sandbox import DEFAULT_TENANT, Sandbox
from mockwise.domain.seed import Credentials, load_seed
from mockwise.http.app import create_app
from mockwise.http.control import is_loopback
from mockwise.server import Listener, Runner
from mockwise.standalone_sca import enrol_business_user


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    state_dir: Path = Path(".mockwise")
    seed: Path | None = None
    log_level: str = "warning"
    admin_token: str | None = None


class Standalone:
    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.sandbox = Sandbox(seed=load_seed(options.seed))
        self.tenant, self.credentials = self.sandbox.create_tenant(DEFAULT_TENANT, fixed=True)
        self.tenant.rate_limits.configure(enabled=True)  # Wise's 100/s and 1000/min (§9)
        self.sca_key = enrol_business_user(
            self.tenant, self.credentials, options.state_dir / "sca-private-key.pem"
        )
        self.tenant.mark_seeded()
        self.app = create_app(self.sandbox, admin_token=options.admin_token)
        self.api = Listener("api", options.host, options.port)
        self.runner = Runner(self.app, [self.api], log_level=options.log_level)

    @property
    def sandbox_json(self) -> Path:
        return self.options.state_dir / "sandbox.json"

    def document(self) -> dict[str, Any]:
        """What a client needs to talk to this sandbox; the same shape the control plane returns."""
        return describe(self.api.url, self.credentials)

    def write_state(self) -> None:
        self.options.state_dir.mkdir(parents=True, exist_ok=True)
        if self.sca_key is not None:
            self.sca_key.write()  # before sandbox.json, which names it
        tmp = self.sandbox_json.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.document(), indent=2) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o600)  # it holds the sandbox's client secret and passwords
        tmp.replace(self.sandbox_json)

    def on_ready(self, out: TextIO = sys.stdout) -> None:
        self.write_state()
        print(summary(self.document(), self.sandbox_json), file=out, flush=True)
        if not is_loopback(self.options.host) and self.options.admin_token is None:
            print(
                f"note: listening on {self.options.host}; the control plane still answers loopback callers"
                " only (give --admin-token to open it to others)",
                file=out,
                flush=True,
            )

    def serve(self) -> None:
        self.runner.run(self.on_ready)
        print("mockwise stopped.", flush=True)


def describe(api_url: str, credentials: Credentials) -> dict[str, Any]:
    return {
        "api_url": api_url,
        "control_url": f"{api_url}/_mockwise",
        "authorize_url": f"{api_url}{AUTHORIZE_PATH}",
        "tenant": credentials.tenant,
        **{k: v for k, v in credentials.as_json().items() if k != "tenant"},
    }


def summary(doc: dict[str, Any], state_file: Path) -> str:
    client = doc["clients"][0]
    lines = [
        "mockwise: a Wise sandbox is running (plain HTTP, for local use)",
        f"  API            {doc['api_url']}",
        f"  control plane  {doc['control_url']}/",
        f"  credentials    {state_file}",
        f"  partner        client_id={client['client_id']}  client_secret={client['client_secret']}",
        "",
        "Get a client-credentials token:",
        f"  curl -s -u '{client['client_id']}:{client['client_secret']}' "
        f"-d grant_type=client_credentials {doc['api_url']}/oauth/token",
    ]
    user = next((u for u in doc["users"] if u.get("password")), None)
    if client["redirect_uris"] and user is not None:
        query = urlencode({"client_id": client["client_id"], "redirect_uri": client["redirect_uris"][0]})
        lines += [
            "",
            f"Link a user: open this in a browser, log in as {user['email']} / {user['password']}"
            " (2FA code 111111):",
            f"  {doc['authorize_url']}?{query}&state=try-me",
        ]
    lines += ["", "Press Ctrl-C to stop."]
    return "\n".join(lines)
