"""SCA for the standalone server: its seeded business user signs one-time tokens out of the box.

The seed's first user with a business profile and a personal token gets an RSA key pair, its public
half uploaded and SCA switched on (Wise's sandbox needs both done on its public-keys page, §1,
§5.2). The private key goes to the state directory, and its path into `sandbox.json`, so the flow
runs with `openssl dgst -sha256 -sign`. A key left by an earlier run is reused, so a client
configured once keeps working across restarts (and a key the state database kept is not uploaded
twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mockwise._domain.sca import RSA_MIN_BITS, load_public_key
from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from mockwise._pki import write_private


@dataclass(frozen=True, slots=True)
class ScaKeyFile:
    path: Path
    pem: str

    def write(self) -> None:
        if self.path.exists() and self.path.read_text(encoding="ascii") == self.pem:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_private(self.path, self.pem)


def enrol_business_user(tenant: Tenant, credentials: Credentials, path: Path) -> ScaKeyFile | None:
    """Give the seed's business user an SCA key and switch SCA on for them; the user's entry in
    `credentials` gains `sca: {required, private_key, fingerprint}`. None if the seed has no such user."""
    with_token = {t["user_id"] for t in credentials.personal_tokens}
    entry: dict[str, Any] | None = next(
        (
            u
            for u in credentials.users
            if u["id"] in with_token and any(p["type"] == "business" for p in u["profiles"])
        ),
        None,
    )
    if entry is None:
        return None
    user = tenant.user(int(entry["id"]))
    kept = _reusable(path)
    if kept is None:
        key, pem = tenant.sca.new_key(user)
    else:
        pem, private = kept
        public = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _, fingerprint = load_public_key(public)
        restored = [k for k in tenant.sca.keys(user) if k.fingerprint == fingerprint]  # kept by state.db
        key = restored[0] if restored else tenant.sca.add_key(user, public)
    tenant.sca.require(user, True)
    entry["sca"] = {"required": True, "private_key": str(path.resolve()), "fingerprint": key.fingerprint}
    return ScaKeyFile(path, pem)


def _reusable(path: Path) -> tuple[str, rsa.RSAPrivateKey] | None:
    """The key an earlier run left, as PEM and loaded, if it is still a usable SCA key."""
    try:
        pem = path.read_text(encoding="ascii")
        key = serialization.load_pem_private_key(pem.encode(), None)
    except (OSError, ValueError, TypeError):
        return None
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= RSA_MIN_BITS:
        return pem, key
    return None
