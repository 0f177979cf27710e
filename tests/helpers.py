"""Small helpers for mockwise's own HTTP tests."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from starlette.types import ASGIApp

from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from mockwise._transport.sockets import Listener, Runner

# A bad certificate variant and what its refusal says (tenant.certificates.issue(..., variant=...)).
BAD_CERTIFICATES = [
    ("expired", "expired at"),
    ("not_yet_valid", "is not valid before"),
    ("revoked", "was revoked at"),
    ("other_client", "was not issued to client"),
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def partner(creds: Credentials) -> tuple[str, str]:
    client = creds.clients[0]
    return client["client_id"], client["client_secret"]


def created_user(creds: Credentials) -> dict[str, Any]:
    """The seed's user created over API by the partner (it has a registration code)."""
    return next(u for u in creds.users if u.get("registration_code"))


def token(api: httpx.Client, creds: Credentials, **form: str) -> Any:
    response = api.post("/oauth/token", auth=partner(creds), data=form)
    assert response.status_code == 200, response.text
    return response.json()


def code_tokens(api: httpx.Client, creds: Credentials, code: str, redirect_uri: str | None = None) -> Any:
    """Exchange an authorization code (for the partner's first redirect URI unless told)."""
    redirect_uri = redirect_uri or creds.clients[0]["redirect_uris"][0]
    return token(api, creds, grant_type="authorization_code", code=code, redirect_uri=redirect_uri)


def user_token(api: httpx.Client, tenant: Tenant, creds: Credentials, email: str, profile_id: int) -> str:
    """A partner's user access token for `email`'s profile, as if the user had linked it."""
    client_id, redirect = creds.clients[0]["client_id"], creds.clients[0]["redirect_uris"][0]
    code = tenant.issue_code(client_id, redirect, email, profile_id)
    return str(code_tokens(api, creds, code, redirect)["access_token"])


def client_credentials(api: httpx.Client, creds: Credentials) -> str:
    return str(token(api, creds, grant_type="client_credentials")["access_token"])


def registration_tokens(api: httpx.Client, creds: Credentials) -> Any:
    user = created_user(creds)
    return token(
        api,
        creds,
        grant_type="registration_code",
        client_id=creds.clients[0]["client_id"],
        email=user["email"],
        registration_code=user["registration_code"],
    )


def error(response: Any) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error"], body["error_description"]


@contextmanager
def running(runner: Runner) -> Iterator[Runner]:
    """`runner` serving from a background thread for the block."""
    runner.start_in_thread()
    try:
        yield runner
    finally:
        runner.stop_thread()


def serving(app: ASGIApp, *listeners: Listener, **runner_options: Any) -> AbstractContextManager[Runner]:
    """`app` served on real sockets from a background thread for the block."""
    return running(Runner(app, list(listeners), **runner_options))


def sign_ott(private_pem: str, value: str) -> str:
    """`printf '%s' <ott> | openssl dgst -sha256 -sign key.pem | base64`, with `cryptography`."""
    key = serialization.load_pem_private_key(private_pem.encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return base64.b64encode(key.sign(value.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())).decode()


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """The public half of a private key, as SubjectPublicKeyInfo PEM."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
