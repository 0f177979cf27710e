"""JWS and JWE made and opened with `cryptography` alone (RFC 7515, 7516, 7518), independently of
jwcrypto and of mockwise's own helpers, so the sandbox is checked against a second implementation."""

from __future__ import annotations

import base64
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwcrypto.common import json_encode
from jwcrypto.jwk import JWK
from jwcrypto.jws import JWS

HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
CURVES: dict[str, ec.EllipticCurve] = {
    "ES256": ec.SECP256R1(),
    "ES384": ec.SECP384R1(),
    "ES512": ec.SECP521R1(),
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key(alg: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if alg in CURVES:
        return ec.generate_private_key(CURVES[alg])
    return rsa.generate_private_key(65537, 2048)


def der_b64(key: Any) -> str:
    """Base64 DER SubjectPublicKeyInfo of a key's public half: the key API's `keyMaterial` (§7.5)."""
    public = key.public_key() if hasattr(key, "public_key") else key
    return base64.b64encode(
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()


def _coordinate_size(curve: ec.EllipticCurve) -> int:
    return (curve.key_size + 7) // 8


def cryptography_jws(key: Any, alg: str, header: dict[str, Any], payload: bytes) -> str:
    """A compact JWS signed with `cryptography` (ES*: raw r||s; PS*: PSS, salt = hash length)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(payload)}".encode()
    digest = HASHES[alg[2:]]()
    if alg.startswith("ES"):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(digest)))
        size = _coordinate_size(key.curve)
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    else:
        signature = key.sign(
            signing_input, padding.PSS(padding.MGF1(digest), digest.digest_size), HASHES[alg[2:]]()
        )
    return f"{signing_input.decode()}.{b64url(signature)}"


def cryptography_verify(compact: str, public: Any) -> tuple[dict[str, Any], bytes]:
    """Verify a compact JWS with `cryptography`; returns the header and payload, or raises."""
    head, body, signature = compact.split(".")
    header = json.loads(unb64url(head))
    alg = header["alg"]
    digest = HASHES[alg[2:]]()
    raw = unb64url(signature)
    signing_input = f"{head}.{body}".encode()
    if alg.startswith("ES"):
        size = _coordinate_size(public.curve)
        der = encode_dss_signature(int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big"))
        public.verify(der, signing_input, ec.ECDSA(digest))
    else:
        public.verify(
            raw, signing_input, padding.PSS(padding.MGF1(digest), digest.digest_size), HASHES[alg[2:]]()
        )
    return header, unb64url(body)


@dataclass
class Sealed:
    compact: str
    cek: bytes


def cryptography_jwe(public: rsa.RSAPublicKey, header: dict[str, Any], plaintext: bytes) -> Sealed:
    """RSA-OAEP-256 + A256GCM with `cryptography`: a fresh CEK wrapped to `public`."""
    cek = os.urandom(32)
    wrapped = public.encrypt(cek, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    return Sealed(_seal(header, wrapped, cek, plaintext), cek)


def _seal(header: dict[str, Any], wrapped: bytes, cek: bytes, plaintext: bytes) -> str:
    protected = b64url(json.dumps(header).encode())
    iv = os.urandom(12)
    sealed = AESGCM(cek).encrypt(iv, plaintext, protected.encode())
    return ".".join((protected, b64url(wrapped), b64url(iv), b64url(sealed[:-16]), b64url(sealed[-16:])))


def cryptography_decrypt(
    compact: str, private: rsa.RSAPrivateKey | None = None, cek: bytes | None = None
) -> tuple[dict[str, Any], bytes, bytes]:
    """Open a compact JWE with `cryptography`: by unwrapping the CEK with `private`, or with a known
    `cek` (direct encryption). Returns header, plaintext and the CEK."""
    protected, wrapped, iv, ciphertext, tag = compact.split(".")
    header = json.loads(unb64url(protected))
    if cek is None:
        assert private is not None
        cek = private.decrypt(
            unb64url(wrapped), padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
        )
    plaintext = AESGCM(cek).decrypt(unb64url(iv), unb64url(ciphertext) + unb64url(tag), protected.encode())
    return header, plaintext, cek


def public_from_der_b64(material: str) -> Any:
    return serialization.load_der_public_key(base64.b64decode(material))


def jwcrypto_jws(key: Any, alg: str, header: dict[str, Any], payload: bytes) -> str:
    """A compact JWS signed with jwcrypto."""
    jws = JWS(payload)
    jws.add_signature(JWK.from_pyca(key), alg=alg, protected=json_encode(header))
    compact: str = jws.serialize(compact=True)
    return compact


def key_upload(
    key: Any, alg: str, scope: str = "PAYLOAD_SIGNING", key_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The body of `POST /v1/auth/jose/request/public-keys` for `key`'s public half."""
    return {
        "keyId": key_id or str(uuid.uuid4()),
        "scope": scope,
        "validFrom": "2020-01-01 00:00:00",
        "validTill": "2099-12-31 23:59:59",
        "publicKeyMaterial": {"algorithm": alg, "keyMaterial": der_b64(key)},
        **extra,
    }
