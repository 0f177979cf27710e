"""The standalone server: a default tenant seeded from `fixtures/`, served on real sockets, and
`sandbox.json` written into the state directory once it is ready.

By default it serves HTTPS on two listeners, like Wise's two hosts (reference §1, §6): the API host
(TLS only) and the mTLS host (a client certificate signed by the sandbox CA is required). The CA,
the server certificate and the clients' certificates live in the state directory (`keystore.py`),
so a restart keeps trust. `--http` serves plain HTTP on one listener instead, for quick local use:
no TLS, and client certificates are not checked.

What the user gave is checked before the state directory is written: the seed file and the ports;
then the seed (its `settings` too) and `--set`. A mistake there is a `StartupError` whose message
names the input and the fix. Each request is then logged on the console (`requestlog.py`) unless
`quiet`.

Tenants, users, tokens and the rest live in the state directory's `state.db` and survive restarts
and crashes (`mockwise._standalone.state`), unless `--in-memory`.
"""

from __future__ import annotations

import gc
import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO
from urllib.parse import urlencode

from mockwise._domain.linking import AUTHORIZE_PATH
from mockwise._domain.sandbox import DEFAULT_TENANT, Sandbox
from mockwise._domain.seed import Credentials, SeedData, SeedError, load_seed
from mockwise._domain.settings import Settings
from mockwise._domain.tenant import Tenant
from mockwise._http.app import create_app
from mockwise._http.control import is_loopback
from mockwise._pki import STORE_PASSWORD, write_private
from mockwise._standalone.keystore import Keystore
from mockwise._standalone.requestlog import RequestLog
from mockwise._standalone.sca import enrol_business_user
from mockwise._standalone.state import ServerState
from mockwise._standalone.webhooks import load_webhook_keys, write_public_key
from mockwise._transport.sockets import (
    WILDCARDS,
    AddressUnavailable,
    Listener,
    Runner,
    bind_all,
    machine_names,
)
from mockwise._transport.webhooks import Dispatcher

DEFAULT_PORT = 8443  # the API host (TLS)
DEFAULT_MTLS_PORT = 8444  # the mTLS host
DEFAULT_HTTP_PORT = 8000  # --http


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int | None = None  # default: DEFAULT_PORT, or DEFAULT_HTTP_PORT with `http`
    mtls_port: int | None = None  # default: DEFAULT_MTLS_PORT; a mistake with `http`
    http: bool = False
    server_names: tuple[str, ...] = ()
    missing_client_cert: Literal["tls", "http"] = "tls"
    state_dir: Path = Path(".mockwise")
    seed: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # `--set key=value`, after the seed's settings
    quiet: bool = False  # no request log on the console
    log_level: str = "warning"
    admin_token: str | None = None
    persist: bool = True  # False: --in-memory
    fresh: bool = False  # forget the saved state first


class StartupError(ValueError):
    """Something given to `mockwise serve` cannot work; the message names it and the fix."""


class Standalone:
    def __init__(self, options: ServeOptions, out: TextIO | None = None) -> None:
        self.options = options
        self.out = out
        self.keystore: Keystore | None = None
        self.client_files: dict[str, tuple[Path, Path]] = {}
        self.trust_store: Path | None = None  # PKCS#12 stores for JVM and .NET clients
        self.client_stores: dict[str, Path] = {}
        seed = _seed(options)
        _rehearse(seed, options)  # every mistake in the seed or --set, before a port or the state lock
        # An empty token would open the control plane to anyone: it counts as none (issue 15).
        self.admin_token = (options.admin_token or "").strip() or None
        # The names this server answers to: its address, or this machine's when bound to all of them.
        self.names = (
            *(machine_names() if options.host in WILDCARDS else (options.host,)),
            *options.server_names,
        )
        self.hosts: tuple[str, ...] = self.names  # TLS: the server certificate's names (below)
        # Sockets first: a port that cannot be had is reported before the state directory is touched.
        if options.http:
            port = DEFAULT_HTTP_PORT if options.port is None else options.port
            self.api = Listener("api", options.host, port)
            self.mtls: Listener | None = None
        else:
            port = DEFAULT_PORT if options.port is None else options.port
            self.api = Listener("api", options.host, port)
            mtls_port = DEFAULT_MTLS_PORT if options.mtls_port is None else options.mtls_port
            self.mtls = Listener("mtls", options.host, mtls_port)
        listeners = [self.api] if self.mtls is None else [self.api, self.mtls]
        try:
            bind_all(listeners)
        except AddressUnavailable as exc:
            raise StartupError(_unavailable(exc, options)) from None
        self.state: ServerState | None = None
        try:
            self._make_sandbox(seed)
        except BaseException:
            for listener in listeners:
                if listener.sock is not None:
                    listener.sock.close()
            if self.state is not None:
                self.state.close(getattr(self, "sandbox", None))
            raise
        self.app = create_app(self.sandbox, admin_token=self.admin_token, hosts=self.hosts)
        self.runner = Runner(self.app, listeners, log_level=options.log_level)
        if not options.quiet:
            log = RequestLog(out or sys.stdout)
            self.sandbox.journal_listeners.append(log)
            self.sandbox.control_listeners.append(log.control)

    def _make_sandbox(self, seed: SeedData) -> None:
        options = self.options
        self.state = state = ServerState(options.state_dir, persist=options.persist, fresh=options.fresh)
        webhook_keys = load_webhook_keys(options.state_dir)  # a restart keeps the published key (§8.4)
        if options.http:
            self.sandbox = Sandbox(seed=seed, store=state.store, webhook_keys=webhook_keys)
        else:
            self.keystore = Keystore(options.state_dir)
            pki = self.keystore.load_pki(self.names)  # the server certificate covers every one of them
            self.hosts = pki.server_names
            self.sandbox = Sandbox(seed=seed, pki=pki, store=state.store, webhook_keys=webhook_keys)
            optional = options.missing_client_cert == "http"
            assert self.mtls is not None
            self.api.ssl = pki.server_context("none")
            self.mtls.ssl = pki.server_context("optional" if optional else "required")
        # Wise's rate limits for the served tenant; its seed's settings and `--set` after
        served = self.sandbox.settings.apply(SERVED)
        try:  # the one state.db kept, or a new one
            self.tenant, self.credentials, new = state.default_tenant(self.sandbox, seed, served)
        except SeedError as exc:
            raise StartupError(f"--seed {options.seed}: {exc}") from None
        _configure(self.tenant, options.settings)
        if self.keystore is not None:
            self.client_files = self.keystore.client_certificates(self.tenant)
            self.trust_store, self.client_stores = self.keystore.java_stores(self.client_files)
        self.sca_key = enrol_business_user(
            self.tenant, self.credentials, options.state_dir / "sca-private-key.pem"
        )
        if new:
            self.tenant.mark_seeded()  # a reset keeps the served certificates, the SCA key and the settings

    @property
    def sandbox_json(self) -> Path:
        return self.options.state_dir / "sandbox.json"

    def document(self) -> dict[str, Any]:
        """What a client needs to talk to this sandbox; the same shape the control plane returns."""
        key = write_public_key(self.options.state_dir, self.sandbox.webhook_keys)
        return describe(
            self.api.url,
            self.credentials,
            mtls_api_url=self.mtls.url if self.mtls is not None else None,
            ca_cert=self.keystore.ca_cert.resolve() if self.keystore is not None else None,
            client_files=self.client_files,
            mtls_enforced={c.client_id: c.mtls_enforced for c in self.tenant.directory.clients.values()},
            trust_store=self.trust_store,
            client_stores=self.client_stores,
            webhook_public_key=key,
        )

    def write_state(self, document: dict[str, Any]) -> None:
        self.options.state_dir.mkdir(parents=True, exist_ok=True)
        if self.sca_key is not None:
            self.sca_key.write()  # before sandbox.json, which names it
        # it holds the sandbox's client secret and passwords
        write_private(self.sandbox_json, json.dumps(document, indent=2) + "\n")

    def on_ready(self, out: TextIO = sys.stdout) -> None:
        document = self.document()
        self.write_state(document)
        elsewhere: tuple[str, ...] = ()
        if self.options.host in WILDCARDS:
            elsewhere = tuple(self.api.url_for(name) for name in self.names if not is_loopback(name))
        assert self.state is not None
        kept = self.state.started(self.sandbox.restored)
        print(
            summary(
                document,
                self.sandbox_json,
                self.control_access(),
                elsewhere,
                state=kept,
                settings=self.tenant.settings.changed(),
            ),
            file=out,
            flush=True,
        )

    def control_access(self) -> str:
        """Who can reach the control plane, for the banner."""
        opens = "--admin-token or MOCKWISE_ADMIN_TOKEN opens it"
        if self.admin_token is not None:
            return "loopback callers, and any caller sending the admin token (Authorization: Bearer …)"
        if self.options.admin_token is not None:
            return "loopback callers only: the admin token given is empty, so there is none"
        if self.options.host in WILDCARDS:
            return f"loopback callers only, though listening on every address ({opens})"
        if not is_loopback(self.options.host):
            return f"loopback callers only, though listening on {self.options.host} ({opens})"
        return f"loopback callers only ({opens} to others)"

    def serve(self) -> None:
        assert self.state is not None
        dispatcher = Dispatcher(self.sandbox).start()  # webhooks go out from a thread of their own (§8)
        # What start-up made (modules, the app, restored tenants) lives as long as the server: out of
        # the collector's sight, a full collection walks only what requests made since, which the
        # token store lets go of once written (`TokenStore._release`) instead of holding for a day.
        # No collection first: it found nothing here and took 29 ms of start-up.
        gc.freeze()
        try:
            self.runner.run(self.on_ready)
        finally:
            dispatcher.stop()
            self.state.close(self.sandbox)
        print(self.state.stopped(), flush=True)


def _seed(options: ServeOptions) -> SeedData:
    try:
        return load_seed(options.seed)
    except SeedError as exc:
        raise StartupError(f"--seed {exc}") from None


SERVED = {"rate_limits.enabled": True}  # Wise's 100/s and 1000/min (§9) for the served tenant


def _rehearse(seed: SeedData, options: ServeOptions) -> None:
    """Check the options, and seed a throwaway tenant in memory with the seed and `--set`, so that a
    mistake in any is reported before anything is bound, locked or written (a running server must
    not mask a typo)."""
    where = options.state_dir
    if where.exists() and not where.is_dir():
        raise StartupError(
            f"--state-dir {where}: is a file, not a directory; give a directory (created if missing), "
            "e.g. --state-dir .mockwise"
        )
    if options.http and options.mtls_port is not None:
        raise StartupError(
            f"--mtls-port {options.mtls_port}: --http serves plain HTTP on one port (--port) and no "
            "mTLS; leave --mtls-port out, or drop --http for HTTPS with mTLS"
        )
    port = DEFAULT_PORT if options.port is None else options.port
    if not options.http and port == (options.mtls_port or DEFAULT_MTLS_PORT) and port != 0:
        raise StartupError(
            f"--port {port} and --mtls-port {port}: the API and the mTLS API need a port each; "
            "choose two (0 picks a free one)"
        )
    try:
        tenant, _ = Sandbox(seed=seed).create_tenant(
            DEFAULT_TENANT, fixed=True, settings=Settings().apply(SERVED)
        )
    except SeedError as exc:
        raise StartupError(f"--seed {options.seed or 'fixtures/default.json'}: {exc}") from None
    _configure(tenant, options.settings)


def _configure(tenant: Tenant, settings: dict[str, Any]) -> None:
    if settings:
        try:
            tenant.configure(dict(settings))  # the one place --set lands
        except ValueError as exc:
            raise StartupError(f"--set: {exc}{_quoting_hint(str(exc))}") from None


def _quoting_hint(problem: str) -> str:
    if "must be str, not" not in problem:
        return ""
    return """ (a value that reads as JSON is taken as JSON: quote the text, --set 'sca.pin="1234"')"""


def _unavailable(exc: AddressUnavailable, options: ServeOptions) -> str:
    listener = exc.listener
    flag = "--mtls-port" if listener.name == "mtls" else "--port"
    if "host" in exc.reason:
        return f"--host {listener.host}: {exc.reason}; use 127.0.0.1, or 0.0.0.0 for every interface"
    return (
        f"{flag} {listener.port}: cannot listen on {listener.host}:{listener.port}, {exc.reason}; "
        f"choose another port ({flag} 0 picks a free one)"
    )


def describe(
    api_url: str,
    credentials: Credentials,
    *,
    mtls_api_url: str | None = None,
    ca_cert: Path | None = None,
    client_files: dict[str, tuple[Path, Path]] | None = None,
    mtls_enforced: dict[str, bool] | None = None,
    trust_store: Path | None = None,
    client_stores: dict[str, Path] | None = None,
    webhook_public_key: Path | None = None,
) -> dict[str, Any]:
    files, enforced, stores = client_files or {}, mtls_enforced or {}, client_stores or {}
    clients = [
        {
            **client,
            "mtls_enforced": enforced.get(client["client_id"], False),
            "cert": str(files[client["client_id"]][0]) if client["client_id"] in files else None,
            "key": str(files[client["client_id"]][1]) if client["client_id"] in files else None,
            # the same certificate, its chain and key, as a PKCS#12 key store (JVM, .NET)
            "keystore": str(stores[client["client_id"]]) if client["client_id"] in stores else None,
        }
        for client in credentials.clients
    ]
    return {
        "api_url": api_url,
        "mtls_api_url": mtls_api_url,
        "control_url": f"{api_url}/_mockwise",
        "authorize_url": f"{api_url}{AUTHORIZE_PATH}",
        "ca_cert": str(ca_cert) if ca_cert is not None else None,
        "trust_store": str(trust_store) if trust_store is not None else None,  # the CA, PKCS#12
        "store_password": STORE_PASSWORD if trust_store is not None else None,
        # webhooks are signed with this key's private half (X-Signature-SHA256, §8.4)
        "webhook_public_key": str(webhook_public_key) if webhook_public_key is not None else None,
        "webhook_public_key_url": f"{api_url}/_mockwise/webhooks/public-key.pem",
        "tenant": credentials.tenant,
        **credentials.as_json(),
        "clients": clients,  # with the paths of their certificate and key
    }


def summary(
    doc: dict[str, Any],
    state_file: Path,
    control_access: str,
    elsewhere: tuple[str, ...] = (),
    *,
    state: str | None = None,
    settings: dict[str, Any] | None = None,
) -> str:
    """The banner. `elsewhere`: the URLs other machines may use, when listening on all addresses;
    `state`: what the server kept from its last run; `settings`: the served tenant's settings that
    differ from the defaults (from the seed, `--set`, or the last run)."""
    client = doc["clients"][0]
    others = [f"  also reachable {', '.join(elsewhere)}"] if elsewhere else []
    kept = [state] if state is not None else []
    if settings:
        shown = ", ".join(f"{key}={json.dumps(value)}" for key, value in settings.items())
        kept.append(f"  settings       {shown} (the rest as documented: `mockwise settings`)")
    basic = shlex.quote(f"{client['client_id']}:{client['client_secret']}")
    if doc["mtls_api_url"] is None:
        return "\n".join(
            [
                "mockwise: a Wise sandbox is running over PLAIN HTTP (--http: no TLS, client",
                "certificates are not checked; for quick local use only)",
                f"  API            {doc['api_url']}",
                *others,
                f"  control plane  {doc['control_url']}/",
                f"                 {control_access}",
                f"  credentials    {state_file}",
                *_webhook_line(doc),
                *kept,
                f"  partner        client_id={client['client_id']}  client_secret={client['client_secret']}",
                "",
                "Get a client-credentials token:",
                f"  curl -s -u {basic} -d grant_type=client_credentials {doc['api_url']}/oauth/token",
                *_link_hint(doc),
                "",
                "Press Ctrl-C to stop.",
            ]
        )
    ca, cert, key = (_shown(doc["ca_cert"]), _shown(client["cert"]), _shown(client["key"]))
    keystore, trusted = _shown(client.get("keystore")), _shown(doc.get("trust_store"))
    enforced = " (mTLS enforced)" if client.get("mtls_enforced") else ""
    return "\n".join(
        [
            "mockwise: a Wise sandbox is running (HTTPS, TLS 1.2+)",
            f"  API (TLS only) {doc['api_url']}",
            f"  API (mTLS)     {doc['mtls_api_url']}   client certificate required",
            *others,
            f"  control plane  {doc['control_url']}/",
            f"                 {control_access}",
            f"  sandbox CA     {ca}   (the 'Wise certificate': trust it)",
            f"  credentials    {state_file}",
            *_webhook_line(doc),
            *kept,
            f"  partner        client_id={client['client_id']}  "
            f"client_secret={client['client_secret']}{enforced}",
            f"  client cert    {cert}  key {key}",
            f"  JVM, .NET      key store {keystore}  trust store {trusted}"
            f"  (PKCS#12, password {doc['store_password']})",
            "",
            "Get a client-credentials token over mTLS:",
            f"  curl -s --cacert {ca} --cert {cert} --key {key} \\",
            f"       -u {basic} -d grant_type=client_credentials {doc['mtls_api_url']}/oauth/token",
            *_link_hint(doc),
            "",
            "Press Ctrl-C to stop.",
        ]
    )


def _webhook_line(doc: dict[str, Any]) -> list[str]:
    key = doc.get("webhook_public_key")
    if key is None:
        return []
    return [f"  webhook key    {_shown(key)}   (verify X-Signature-SHA256 with it)"]


def _link_hint(doc: dict[str, Any]) -> list[str]:
    client = doc["clients"][0]
    user = next((u for u in doc["users"] if u.get("password")), None)
    if not client["redirect_uris"] or user is None:
        return []
    query = urlencode({"client_id": client["client_id"], "redirect_uri": client["redirect_uris"][0]})
    return [
        "",
        f"Link a user: open this in a browser, log in as {user['email']} / {user['password']}"
        " (2FA code 111111):",
        f"  {doc['authorize_url']}?{query}&state=try-me",
    ]


def _shown(path: str | None) -> str:
    """A path as short as it can be while it still works from the current directory, quoted."""
    if path is None:
        return "-"
    full = Path(path)
    try:
        shown = str(full.relative_to(Path.cwd()))
    except ValueError:
        shown = str(full)
    return shlex.quote(shown)
