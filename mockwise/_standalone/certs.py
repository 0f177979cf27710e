"""`mockwise certs ...`: the Developer Hub's certificate page, from the command line (reference §6).

Every command but `ca` and `export` talks to the running `mockwise serve` through its control
plane, found in `<state-dir>/sandbox.json` (the certificate records are the tenant's, kept in its
state.db across restarts); `ca` and `export` read the state directory, so they work with the server
stopped.

    mockwise certs ca                       # "Get Wise certificate": the sandbox CA (PEM)
    mockwise certs export --out-dir stores/ # PKCS#12 trust store and key store (JVM, .NET)
    mockwise certs list                     # the partner's certificates and their state
    mockwise certs sign partner.csr --out partner.pem      # "Generate certificate" from a CSR
    mockwise certs register made-elsewhere.pem
    mockwise certs issue --out-dir certs/   # a new key and certificate (or --variant expired...)
    mockwise certs revoke <fingerprint>
    mockwise certs enforce off              # mTLS enforcement for the client: on / off

`--client` defaults to the first client in sandbox.json; `--tenant` to the default tenant.
`MOCKWISE_ADMIN_TOKEN`, when set, is sent as the control plane's bearer token.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from mockwise._domain.certificates import VARIANTS
from mockwise._pki import STORE_PASSWORD, KeyPair, trust_store, write_private_bytes
from mockwise._standalone.keystore import CA_CERT, CLIENTS, TRUST_STORE, file_stem


class CliError(Exception):
    pass


def add_parser(commands: Any) -> None:
    certs = commands.add_parser(
        "certs",
        help="client certificates: sign a CSR, register, list, revoke, get the sandbox CA",
        description=__doc__.split("\n\n")[1],
    )
    certs.add_argument("--state-dir", type=Path, default=Path(".mockwise"), help="default: .mockwise")
    certs.add_argument("--tenant", default=None, help="default: the tenant in sandbox.json")
    actions = certs.add_subparsers(dest="action", required=True)

    ca = actions.add_parser("ca", help="print the sandbox CA certificate ('Get Wise certificate')")
    ca.add_argument("--out", type=Path, help="write it to this file instead")

    export = actions.add_parser(
        "export",
        help="write the sandbox CA as a PKCS#12 trust store and the client's certificate and key as a "
        "PKCS#12 key store (what the JVM and .NET load)",
    )
    export.add_argument("--client", help="default: the first client in sandbox.json")
    export.add_argument("--out-dir", type=Path, default=Path(), help="default: the current directory")
    export.add_argument("--password", default=STORE_PASSWORD, help=f"default: {STORE_PASSWORD}")

    listing = actions.add_parser("list", help="the client's certificates (all clients with --all)")
    listing.add_argument("--client")
    listing.add_argument("--all", action="store_true", help="every client of the tenant")

    sign = actions.add_parser("sign", help="sign a CSR (PEM, with an O); the CN becomes the client id")
    sign.add_argument("csr", type=Path)
    sign.add_argument("--client")
    sign.add_argument("--name")
    sign.add_argument("--out", type=Path, help="write the certificate here (default: stdout)")

    register = actions.add_parser("register", help="register a certificate signed by the sandbox CA")
    register.add_argument("certificate", type=Path)
    register.add_argument("--client")
    register.add_argument("--name")

    issue = actions.add_parser("issue", help="make a new key and certificate for the client")
    issue.add_argument("--client")
    issue.add_argument("--name")
    issue.add_argument("--variant", choices=VARIANTS, help="a certificate for a negative test")
    issue.add_argument("--key-type", choices=["ec", "rsa"], default="ec")
    issue.add_argument("--out-dir", type=Path, default=Path(), help="default: the current directory")
    issue.add_argument(
        "--pkcs12", action="store_true", help=f"also a PKCS#12 key store (password {STORE_PASSWORD})"
    )

    revoke = actions.add_parser("revoke", help="revoke a certificate by fingerprint (or its 16-char id)")
    revoke.add_argument("fingerprint")
    revoke.add_argument("--client")

    enforce = actions.add_parser("enforce", help="turn mTLS enforcement on or off for the client")
    enforce.add_argument("state", choices=["on", "off"])
    enforce.add_argument("--client")


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == "ca":
            return _ca(args)
        if args.action == "export":
            return _export(args)
        return _remote(args)
    except CliError as exc:
        print(f"mockwise certs: {exc}", file=sys.stderr)
        return 1


def _ca(args: argparse.Namespace) -> int:
    path = args.state_dir / "ca.pem"
    if not path.exists():
        raise CliError(f"no {path}: start `mockwise serve --state-dir {args.state_dir}` once (HTTPS mode)")
    pem = path.read_text(encoding="ascii")
    if args.out is not None:
        args.out.write_text(pem, encoding="ascii")
        print(args.out)
    else:
        sys.stdout.write(pem)
    return 0


def _export(args: argparse.Namespace) -> int:
    """The state directory's CA and a client's certificate as PKCS#12 stores, into `--out-dir`."""
    ca_path = args.state_dir / CA_CERT
    if not ca_path.exists():
        raise CliError(f"no {ca_path}: start `mockwise serve --state-dir {args.state_dir}` once (HTTPS mode)")
    client = args.client or _first_client(args.state_dir)
    stem = file_stem(client)
    cert, key = args.state_dir / CLIENTS / f"{stem}.pem", args.state_dir / CLIENTS / f"{stem}.key"
    if not (cert.exists() and key.exists()):
        raise CliError(f"no certificate of client {client!r} in {cert.parent}: name a client of this sandbox")
    ca = ca_path.read_text(encoding="ascii")
    pair = KeyPair(cert.read_text(encoding="ascii"), key.read_text(encoding="ascii"))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    trusted, store = args.out_dir / TRUST_STORE, args.out_dir / f"{stem}.p12"
    write_private_bytes(trusted, trust_store([ca], args.password))
    write_private_bytes(store, pair.pkcs12(args.password, alias=client, chain=[ca]))
    result = {
        "client_id": client,
        "trust_store": str(trusted),
        "keystore": str(store),
        "store_password": args.password,
        "store_type": "PKCS12",
    }
    print(json.dumps(result, indent=2))
    return 0


def _first_client(state_dir: Path) -> str:
    path = state_dir / "sandbox.json"
    try:
        client: str = json.loads(path.read_text(encoding="utf-8"))["clients"][0]["client_id"]
    except (OSError, ValueError, KeyError, IndexError):
        raise CliError(f"cannot read the first client from {path}: name one with --client") from None
    return client


def _remote(args: argparse.Namespace) -> int:
    server = _Server(args.state_dir, args.tenant)
    client = getattr(args, "client", None) or server.first_client
    base = f"/clients/{urllib.parse.quote(client, safe='')}"
    if args.action == "list":
        result = server.call("GET", "/certificates" if args.all else f"{base}/certificates")
    elif args.action in ("sign", "register"):
        source: Path = args.csr if args.action == "sign" else args.certificate
        try:
            pem = source.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read {source}: {exc}") from None
        key = "csr" if args.action == "sign" else "certificate"
        result = server.call("POST", f"{base}/certificates", {key: pem, "name": args.name})
        if args.action == "sign":
            certificate = result.pop("certificate")
            if args.out is None:
                sys.stdout.write(certificate)
                return 0
            args.out.write_text(certificate, encoding="ascii")
            result["certificate_file"] = str(args.out)
    elif args.action == "issue":
        body = {"name": args.name, "variant": args.variant, "key_type": args.key_type}
        result = server.call("POST", f"{base}/certificates", body)
        stem = f"{client}-{args.variant}" if args.variant else client
        pair = KeyPair(result.pop("certificate"), result.pop("private_key"))
        cert_file, key_file = pair.write(args.out_dir, stem)
        result |= {"certificate_file": str(cert_file), "key_file": str(key_file)}
        if args.pkcs12:
            ca = (args.state_dir / CA_CERT).read_text(encoding="ascii")
            store = cert_file.with_suffix(".p12")
            write_private_bytes(store, pair.pkcs12(STORE_PASSWORD, alias=client, chain=[ca]))
            result |= {"keystore_file": str(store), "store_password": STORE_PASSWORD}
    elif args.action == "revoke":
        fingerprint = urllib.parse.quote(args.fingerprint, safe="")
        result = server.call("POST", f"{base}/certificates/{fingerprint}/revoke")
    else:  # enforce
        result = server.call("PUT", f"{base}/mtls", {"mtls_enforced": args.state == "on"})
    print(json.dumps(result, indent=2))
    return 0


class _Server:
    """The running sandbox's control plane, as described by its sandbox.json."""

    def __init__(self, state_dir: Path, tenant: str | None) -> None:
        path = state_dir / "sandbox.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            hint = f"is `mockwise serve --state-dir {state_dir}` running?"
            raise CliError(f"cannot read {path} ({exc}): {hint}") from None
        self.url = f"{doc['control_url']}/tenants/{urllib.parse.quote(tenant or doc['tenant'], safe='')}"
        self.first_client: str = doc["clients"][0]["client_id"]
        ca = doc.get("ca_cert")
        self.context = ssl.create_default_context(cafile=ca) if ca else None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps({k: v for k, v in body.items() if v is not None}).encode() if body else None
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        token = os.environ.get("MOCKWISE_ADMIN_TOKEN")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=10) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("message", exc.reason)
            except ValueError:
                message = exc.reason
            raise CliError(f"{exc.code}: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise CliError(f"no answer from {self.url} ({exc}); is `mockwise serve` running?") from None
