"""JOSE (reference §7): the sandbox's own signing and encryption keys, the public keys partners
upload, and the JWS/JWE operations on them (jwcrypto does the cryptography).

- Wise's keys are per tenant and versioned: `rotate()` starts a new version at once. Responses are
  signed with the current version, and requests must be encrypted to it: a client still using an
  older key gets the documented decryption failure, which is when Wise tells clients to fetch its
  key again (§7.5). Older versions stay readable (`version=n`) so signed responses can be checked.
- Partners upload PAYLOAD_SIGNING (ES256/384/512, PS256/384/512) and PAYLOAD_ENCRYPTION
  (RSA_OAEP_256) public keys as Base64 DER, each with a `keyId` and a validity window (§7.5).
- Only RSA-OAEP-256 with A256GCM is accepted for JWE [C] §7.3; a response gets a fresh content key
  unless it is directly encrypted with the request's (`alg: dir`, §7.3).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwcrypto.common import JWException, base64url_encode
from jwcrypto.jwe import JWE
from jwcrypto.jwk import JWK
from jwcrypto.jws import JWS, InvalidJWSSignature

from mockwise._domain.codec import JSON, codec, from_data, to_data
from mockwise._domain.context import TenantContext
from mockwise._domain.errors import FieldError, ValidationError


class KeyScope(StrEnum):
    PAYLOAD_SIGNING = "PAYLOAD_SIGNING"
    PAYLOAD_ENCRYPTION = "PAYLOAD_ENCRYPTION"


#: JWS algorithms Wise accepts [C] §7.2.
SIGNING_ALGORITHMS = ("ES256", "ES384", "ES512", "PS256", "PS384", "PS512")
#: The key-encryption algorithm, as the key API spells it (the JOSE header says "RSA-OAEP-256") §7.5.
KEY_ENCRYPTION = "RSA_OAEP_256"
JWE_ALG = "RSA-OAEP-256"
JWE_ENC = "A256GCM"
ALGORITHMS: dict[KeyScope, tuple[str, ...]] = {
    KeyScope.PAYLOAD_SIGNING: SIGNING_ALGORITHMS,
    KeyScope.PAYLOAD_ENCRYPTION: (KEY_ENCRYPTION,),
}
_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ES256": ec.SECP256R1,
    "ES384": ec.SECP384R1,
    "ES512": ec.SECP521R1,
}
RSA_MIN_BITS = 2048
MAX_PARTNER_KEYS = 50  # per client: a sandbox bound on memory, not a Wise rule
MAX_PLAINTEXT = 64 * 1024  # as the body limit
#: `validFrom`/`validTill` format in the key upload API [C] §7.5.
VALIDITY_FORMAT = "%Y-%m-%d %H:%M:%S"


class JoseError(Exception):
    """A JOSE request the sandbox refuses. `code` names the reason (journal, diagnostics);
    `decryption` marks the failures Wise answers with its generic 500 (§7.3)."""

    def __init__(self, code: str, message: str, *, decryption: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.decryption = decryption


# Keys ----------------------------------------------------------------------------------------------


def _to_private_pem(key: JWK) -> str:
    pem: bytes = key.export_to_pem(True, None)
    return pem.decode("ascii")


def _private_pem(data: Any) -> JWK:
    """One of Wise's own key pairs, kept as its private key's PEM."""
    if not isinstance(data, str):
        raise TypeError("expected a private key (PEM)")
    key = JWK.from_pem(data.encode("ascii"))
    if not key.has_private or key.get("kty") not in ("EC", "RSA"):
        raise ValueError("not an EC or RSA private key")
    return key


def _public_jwk(data: Any) -> JWK:
    """A partner's public key, kept as its JWK."""
    if not isinstance(data, str):
        raise TypeError("expected a public key (JWK)")
    key = JWK.from_json(data)
    if key.has_private or key.get("kty") not in ("EC", "RSA"):
        raise ValueError("not an EC or RSA public key")
    return key


@dataclass(frozen=True, slots=True, eq=False)
class SandboxKey:
    """One of Wise's key pairs in this sandbox: what `GET .../response/public-keys` describes."""

    key_id: str
    version: int
    scope: KeyScope
    algorithm: str
    private: JWK = field(repr=False, metadata=codec(_to_private_pem, _private_pem))

    @property
    def public_der(self) -> bytes:
        key = self.private.get_op_key("verify" if self.scope is KeyScope.PAYLOAD_SIGNING else "wrapKey")
        der: bytes = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return der

    def as_json(self) -> dict[str, Any]:
        """Wise's shape [C] §7.5: the key material is a Base64 DER SubjectPublicKeyInfo."""
        return {
            "keyId": self.key_id,
            "version": self.version,
            "keyMaterial": {
                "algorithm": self.algorithm,
                "keyMaterial": base64.b64encode(self.public_der).decode(),
            },
            "scope": self.scope.value,
        }


@dataclass(slots=True, eq=False)
class PartnerKey:
    """A public key a partner uploaded (`POST /v1/auth/jose/request/public-keys`)."""

    key_id: str
    client_id: str
    scope: KeyScope
    algorithm: str
    public: JWK = field(repr=False, metadata=codec(JWK.export_public, _public_jwk))
    key_material: str  # as uploaded (Base64 DER), echoed back
    valid_from: float
    valid_till: float | None
    valid_from_text: str
    valid_till_text: str | None
    created_at: float

    def active(self, now: float) -> bool:
        return self.valid_from <= now and (self.valid_till is None or now < self.valid_till)

    def as_json(self) -> dict[str, Any]:
        """The upload's answer: the same fields plus `clientId: null` and `deactivationTimestamp:
        null`, as Wise's reference shows them [C] §7.5."""
        return {
            "keyId": self.key_id,
            "scope": self.scope.value,
            "validFrom": self.valid_from_text,
            "validTill": self.valid_till_text,
            "publicKeyMaterial": {"algorithm": self.algorithm, "keyMaterial": self.key_material},
            "clientId": None,
            "deactivationTimestamp": None,
        }


@dataclass(slots=True)
class OwnKeys:
    """Wise's own keys as data (`JoseKeys.own_keys`): the current version and the keys made so far."""

    version: int = 1
    keys: list[SandboxKey] = field(default_factory=list)


def _generate(scope: KeyScope, algorithm: str) -> JWK:
    curve = _CURVES.get(algorithm)
    if curve is not None:
        return JWK.from_pyca(ec.generate_private_key(curve()))
    return JWK.from_pyca(rsa.generate_private_key(65537, RSA_MIN_BITS))


# Version 1 of every tenant's keys comes from one process-wide set: Wise has one key pair for all
# partners, and per-test tenants should not each pay for key generation. `rotate()` makes new ones.
_SHARED: dict[tuple[KeyScope, str], JWK] = {}
_SHARED_LOCK = threading.Lock()


def _shared(scope: KeyScope, algorithm: str) -> JWK:
    with _SHARED_LOCK:
        key = _SHARED.get((scope, algorithm))
        if key is None:
            key = _SHARED[(scope, algorithm)] = _generate(scope, algorithm)
        return key


class JoseKeys:
    """A tenant's JOSE keys: Wise's own (versioned, rotatable) and its partners' uploads."""

    def __init__(self, context: TenantContext) -> None:
        self._context = context
        self._clock = context.clock
        self._lock = context.lock  # the tenant's
        self.version = 1
        self._sandbox: dict[tuple[int, KeyScope, str], SandboxKey] = {}
        self._partners: dict[str, dict[str, PartnerKey]] = {}

    # Wise's keys ---------------------------------------------------------------------------------

    def sandbox_key(self, scope: KeyScope, algorithm: str, version: int | None = None) -> SandboxKey:
        """Wise's key for `scope` and `algorithm` (made on first use); LookupError for a version
        that does not exist, ValueError for an algorithm the scope does not have."""
        if algorithm not in ALGORITHMS[scope]:
            raise ValueError(f"{scope.value} keys use one of {', '.join(ALGORITHMS[scope])}")
        with self._lock:
            wanted = self.version if version is None else version
            if not 1 <= wanted <= self.version:
                raise LookupError(f"no key version {wanted}; the current version is {self.version}")
            key = self._sandbox.get((wanted, scope, algorithm))
            if key is None:
                private = _shared(scope, algorithm) if wanted == 1 else _generate(scope, algorithm)
                key = SandboxKey(str(uuid.uuid4()), wanted, scope, algorithm, private)
                self._sandbox[(wanted, scope, algorithm)] = key
                self._context.changed("jose_keys")
            return key

    def sandbox_keys(self) -> list[SandboxKey]:
        """Wise's keys made so far (keys are made on first use), oldest first."""
        with self._lock:
            return list(self._sandbox.values())

    def rotate(self) -> int:
        """New keys for Wise, in force at once; returns the new version."""
        with self._lock:
            self.version += 1
            self._context.changed("jose_keys")
            return self.version

    # Partners' keys ------------------------------------------------------------------------------

    def upload(
        self,
        client_id: str,
        *,
        key_id: Any,
        scope: Any,
        algorithm: Any,
        key_material: Any,
        valid_from: Any = None,
        valid_till: Any = None,
    ) -> PartnerKey:
        """Install a partner's public key, or refuse with Wise-style validation errors (§7.5)."""
        errors: list[FieldError] = []
        kid = _key_id(key_id, errors)
        key_scope = _scope(scope, errors)
        alg = _algorithm(algorithm, key_scope, errors)
        now = self._clock.now()
        start, start_text = _instant(valid_from, "validFrom", errors, default=now)
        end, end_text = _instant(valid_till, "validTill", errors, default=None)
        public = _public_key(key_material, alg, errors)
        if start is not None and end is not None and end <= start:
            errors.append(FieldError("INVALID", "validTill must be after validFrom", "validTill"))
        if errors:
            raise ValidationError(errors)
        assert kid is not None and key_scope is not None and alg is not None and public is not None
        assert start is not None and start_text is not None
        with self._lock:
            keys = self._partners.setdefault(client_id, {})
            if kid in keys:
                raise ValidationError(
                    [FieldError("NOT_UNIQUE", "A key with this keyId exists", "keyId", ["keyId", kid])], 409
                )
            if len(keys) >= MAX_PARTNER_KEYS:
                raise ValidationError(
                    [FieldError("LIMIT", f"At most {MAX_PARTNER_KEYS} keys per client", "keyId")]
                )
            made = PartnerKey(
                kid,
                client_id,
                key_scope,
                alg,
                public,
                str(key_material),
                start,
                end,
                start_text,
                end_text,
                now,
            )
            keys[kid] = made
            self._context.changed("jose")
            return made

    def partner_keys(self, client_id: str, scope: KeyScope | None = None) -> list[PartnerKey]:
        """A client's keys, newest first (active or not)."""
        with self._lock:  # the Python API may upload from another thread
            keys = self._partners.get(client_id, {})
            return [k for k in reversed(keys.values()) if scope is None or k.scope is scope]

    def encryption_key(self, client_id: str) -> PartnerKey | None:
        """The key a response to this client is encrypted to: its newest active PAYLOAD_ENCRYPTION key."""
        now = self._clock.now()
        return next(
            (k for k in self.partner_keys(client_id, KeyScope.PAYLOAD_ENCRYPTION) if k.active(now)), None
        )

    def remove(self, client_id: str, key_id: str) -> None:
        with self._lock:
            if self._partners.get(client_id, {}).pop(key_id, None) is None:
                raise LookupError(f"client {client_id!r} has no key {key_id!r}")
            self._context.changed("jose")

    def snapshot(self) -> JSON:
        """Partners' uploads (a `Part`), oldest first. Wise's own keys are not part of it: a reset
        keeps them, since clients may cache them."""
        with self._lock:
            return to_data([k for keys in self._partners.values() for k in keys.values()])

    def restore(self, snapshot: JSON) -> None:
        uploads = from_data(list[PartnerKey], snapshot, "jose") if snapshot is not None else []
        with self._lock:
            self._partners = {}
            for key in uploads:
                self._partners.setdefault(key.client_id, {})[key.key_id] = key
            self._context.changed("jose")

    def own_keys(self) -> JSON:
        """Wise's own keys made so far and the current version, private keys as PEM: what a state
        store keeps so that a restarted server signs and decrypts with the keys clients cached."""
        with self._lock:
            return to_data(OwnKeys(self.version, list(self._sandbox.values())))

    def restore_own_keys(self, kept: JSON) -> None:
        own = from_data(OwnKeys, kept, "jose_keys") if kept is not None else OwnKeys()
        with self._lock:
            self.version = own.version
            self._sandbox = {(k.version, k.scope, k.algorithm): k for k in own.keys}

    # Operations ----------------------------------------------------------------------------------

    def verify(self, client_id: str, token: str) -> tuple[dict[str, Any], bytes]:
        """Verify a partner's compact JWS: its header and payload, or a JoseError saying why not."""
        return verify_jws(token, self.partner_keys(client_id, KeyScope.PAYLOAD_SIGNING), self._clock.now())

    def decrypt(self, token: str) -> tuple[dict[str, Any], bytes, bytes]:
        """Decrypt a JWE sent to Wise's current encryption key: header, plaintext and content key."""
        return decrypt_jwe(token, self.sandbox_key(KeyScope.PAYLOAD_ENCRYPTION, KEY_ENCRYPTION))


# JWS and JWE ---------------------------------------------------------------------------------------


def verify_jws(token: str, keys: Iterable[PartnerKey], now: float) -> tuple[dict[str, Any], bytes]:
    jws = JWS()
    jws.allowed_algs = list(SIGNING_ALGORITHMS)
    try:
        jws.deserialize(token.strip())
        header: dict[str, Any] = dict(jws.jose_header)
    except (JWException, ValueError, TypeError, KeyError, UnicodeError):
        raise JoseError("malformed_jws", "The body is not a compact JWS (header.payload.signature)") from None
    alg = header.get("alg")
    if alg not in SIGNING_ALGORITHMS:
        raise JoseError(
            "unsupported_algorithm",
            f"JWS algorithm {_show(alg)} is not supported; use one of {', '.join(SIGNING_ALGORITHMS)}",
        )
    kid = header.get("kid")
    candidates = list(keys)
    if kid is not None:
        candidates = [k for k in candidates if k.key_id == kid]
        if not candidates:
            raise JoseError("unknown_kid", f"No PAYLOAD_SIGNING key with kid {_show(kid)} was uploaded")
        key = candidates[0]
        if not key.active(now):
            raise JoseError("inactive_key", f"Key {key.key_id} is not valid now (validFrom/validTill)")
        if key.algorithm != alg:
            raise JoseError(
                "algorithm_mismatch", f"Key {key.key_id} is a {key.algorithm} key; the JWS says {alg}"
            )
    else:
        candidates = [k for k in candidates if k.algorithm == alg and k.active(now)]
        if not candidates:
            raise JoseError("no_signing_key", f"No active {alg} PAYLOAD_SIGNING key was uploaded")
    for key in candidates:
        try:
            jws.verify(key.public, alg=alg)
        except InvalidJWSSignature:
            continue
        except (JWException, ValueError, TypeError):
            raise JoseError("malformed_jws", "The JWS cannot be verified") from None
        payload: bytes = jws.payload
        return header, payload
    raise JoseError("bad_signature", "JWS signature verification failed")


def decrypt_jwe(token: str, key: SandboxKey) -> tuple[dict[str, Any], bytes, bytes]:
    jwe = JWE()
    jwe.allowed_algs = [JWE_ALG, JWE_ENC]
    try:
        jwe.deserialize(token.strip())
        header: dict[str, Any] = dict(jwe.jose_header)
    except (JWException, ValueError, TypeError, KeyError, UnicodeError):
        raise JoseError("malformed_jwe", "The body is not a compact JWE", decryption=True) from None
    if header.get("alg") != JWE_ALG or header.get("enc") != JWE_ENC:
        raise JoseError(
            "unsupported_algorithm",
            f"JWE alg {_show(header.get('alg'))} / enc {_show(header.get('enc'))}: only {JWE_ALG} with "
            f"{JWE_ENC} is supported",
            decryption=True,
        )
    try:
        jwe.decrypt(key.private, max_plaintext=MAX_PLAINTEXT)
    except (JWException, ValueError, TypeError, KeyError):
        raise JoseError(
            "decryption_failed", "The JWE cannot be decrypted with Wise's current key", decryption=True
        ) from None
    plaintext: bytes = jwe.plaintext
    cek: bytes = jwe.cek
    return header, plaintext, cek


def sign(payload: bytes, key: SandboxKey) -> str:
    """A response signed by Wise: header `{"version": n, "alg": ...}` as in the docs [C] §7.2."""
    jws = JWS(payload)
    jws.add_signature(
        key.private, alg=key.algorithm, protected=_header(version=key.version, alg=key.algorithm)
    )
    compact: str = jws.serialize(compact=True)
    return compact


def encrypt(payload: bytes, key: PartnerKey) -> str:
    """A response encrypted to the partner's key, with its `kid`, under a new content key [C] §7.3."""
    jwe = JWE(payload, protected=_header(alg=JWE_ALG, enc=JWE_ENC, kid=key.key_id))
    jwe.add_recipient(key.public)
    compact: str = jwe.serialize(compact=True)
    return compact


def encrypt_direct(payload: bytes, cek: bytes) -> str:
    """A response encrypted with the request's own content key: `{"enc":"A256GCM","alg":"dir"}` §7.3."""
    jwe = JWE(payload, protected=_header(enc=JWE_ENC, alg="dir"))
    jwe.add_recipient(JWK(kty="oct", k=base64url_encode(cek)))
    compact: str = jwe.serialize(compact=True)
    return compact


def _header(**members: Any) -> str:
    return json.dumps(members, separators=(",", ":"))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "…"


# Upload validation ---------------------------------------------------------------------------------


def _key_id(value: Any, errors: list[FieldError]) -> str | None:
    if value is None:
        errors.append(FieldError("NotNull", "must not be null", "keyId"))
        return None
    if isinstance(value, str) and len(value) == 36:
        try:
            uuid.UUID(value)
            return value  # kept as sent: a JWS `kid` must match it exactly
        except ValueError:
            pass
    errors.append(FieldError("INVALID", "keyId must be a UUID", "keyId"))
    return None


def _scope(value: Any, errors: list[FieldError]) -> KeyScope | None:
    if value is None:
        errors.append(FieldError("NotNull", "must not be null", "scope"))
        return None
    try:
        return KeyScope(value)
    except ValueError:
        errors.append(FieldError("INVALID", "scope must be PAYLOAD_SIGNING or PAYLOAD_ENCRYPTION", "scope"))
        return None


def _algorithm(value: Any, scope: KeyScope | None, errors: list[FieldError]) -> str | None:
    path = "publicKeyMaterial.algorithm"
    if value is None:
        errors.append(FieldError("NotNull", "must not be null", path))
        return None
    allowed = ALGORITHMS[scope] if scope is not None else (*SIGNING_ALGORITHMS, KEY_ENCRYPTION)
    if value not in allowed:
        errors.append(FieldError("INVALID", f"algorithm must be one of {', '.join(allowed)}", path))
        return None
    return str(value)


def _instant(
    value: Any, name: str, errors: list[FieldError], *, default: float | None
) -> tuple[float | None, str | None]:
    if value is None:
        if default is None:
            return None, None
        return default, datetime.fromtimestamp(default, UTC).strftime(VALIDITY_FORMAT)
    try:
        if not isinstance(value, str):
            raise ValueError
        moment = datetime.strptime(value, VALIDITY_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        errors.append(FieldError("INVALID", "must be formatted yyyy-MM-dd HH:mm:ss", name))
        return None, None
    return moment.timestamp(), value


def _public_key(value: Any, algorithm: str | None, errors: list[FieldError]) -> JWK | None:
    path = "publicKeyMaterial.keyMaterial"
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError("NotNull", "must not be null", path))
        return None
    try:
        der = base64.b64decode("".join(value.split()), validate=True)
        key = serialization.load_der_public_key(der)
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        errors.append(FieldError("INVALID", "keyMaterial must be a Base64 DER public key (SPKI)", path))
        return None
    if algorithm is None:  # reported already; the key cannot be checked against it
        return None
    curve = _CURVES.get(algorithm)
    if curve is not None:
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, curve):
            errors.append(FieldError("INVALID", f"{algorithm} needs an EC {curve.name} key", path))
            return None
    elif not isinstance(key, rsa.RSAPublicKey) or key.key_size < RSA_MIN_BITS:
        errors.append(
            FieldError("INVALID", f"{algorithm} needs an RSA key of at least {RSA_MIN_BITS} bits", path)
        )
        return None
    return JWK.from_pyca(key)
