"""JOSE keys and operations (§7), checked against tokens made independently with jwcrypto and with
`cryptography` (tests/jose_helpers.py), never with the sandbox's own helpers."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwcrypto.common import json_encode
from jwcrypto.jwe import JWE
from jwcrypto.jwk import JWK

from mockwise._domain.errors import ValidationError
from mockwise._domain.jose import (
    SIGNING_ALGORITHMS,
    JoseError,
    JoseKeys,
    KeyScope,
    encrypt,
    encrypt_direct,
    sign,
)
from mockwise._domain.sandbox import Sandbox
from mockwise._domain.tenant import Tenant
from tests.jose_helpers import (
    b64url,
    cryptography_decrypt,
    cryptography_jwe,
    cryptography_jws,
    cryptography_verify,
    der_b64,
    jwcrypto_jws,
    new_key,
    public_from_der_b64,
)

CLIENT = "partner-1"
WEAK_RSA = rsa.generate_private_key(65537, 1024)  # noqa: S505 - too weak on purpose


@pytest.fixture
def tenant() -> Tenant:
    tenant, _ = Sandbox().create_tenant(seed=False)
    tenant.clock.set(datetime(2027, 1, 15, tzinfo=UTC))
    tenant.clock.freeze()
    return tenant


@pytest.fixture
def keys(tenant: Tenant) -> JoseKeys:
    return tenant.jose


def upload(keys: JoseKeys, key: Any, alg: str, scope: str = "PAYLOAD_SIGNING", **extra: Any) -> str:
    kid = extra.pop("key_id", str(uuid.uuid4()))
    keys.upload(CLIENT, key_id=kid, scope=scope, algorithm=alg, key_material=der_b64(key), **extra)
    return kid


def url_header(alg: str, kid: str | None = None, url: str = "/v1/x") -> dict[str, Any]:
    header: dict[str, Any] = {"alg": alg, "typ": "JWT", "url": url}
    if kid:
        header["kid"] = kid
    return header


# Partners' keys --------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", SIGNING_ALGORITHMS)
@pytest.mark.parametrize("maker", [jwcrypto_jws, cryptography_jws], ids=["jwcrypto", "cryptography"])
def test_partner_signatures_verify(keys: JoseKeys, alg: str, maker: Any) -> None:
    private = new_key(alg)
    kid = upload(keys, private, alg)
    token = maker(private, alg, url_header(alg, kid), b'{"type":"BALANCE"}')
    header, payload = keys.verify(CLIENT, token)
    assert payload == b'{"type":"BALANCE"}' and header["kid"] == kid and header["url"] == "/v1/x"


def test_without_kid_any_active_key_of_that_algorithm_verifies(keys: JoseKeys) -> None:
    old, new = new_key("ES256"), new_key("ES256")
    upload(keys, old, "ES256")
    upload(keys, new, "ES256")
    for private in (old, new):  # rotation on the partner's side: both keys installed
        assert keys.verify(CLIENT, cryptography_jws(private, "ES256", url_header("ES256"), b"{}"))[1] == b"{}"


def test_each_failure_names_its_reason(keys: JoseKeys) -> None:
    private = new_key("ES512")
    kid = upload(keys, private, "ES512")
    stranger = new_key("ES512")

    def reason(token: str) -> str:
        with pytest.raises(JoseError) as refused:
            keys.verify(CLIENT, token)
        assert not refused.value.decryption
        return refused.value.code

    assert reason(cryptography_jws(stranger, "ES512", url_header("ES512", kid), b"{}")) == "bad_signature"
    assert reason(cryptography_jws(stranger, "ES512", url_header("ES512"), b"{}")) == "bad_signature"
    other = str(uuid.uuid4())
    assert reason(cryptography_jws(private, "ES512", url_header("ES512", other), b"{}")) == "unknown_kid"
    ps = new_key("PS256")
    assert reason(cryptography_jws(ps, "PS256", url_header("PS256", kid), b"{}")) == "algorithm_mismatch"
    assert reason(cryptography_jws(ps, "PS256", url_header("PS256"), b"{}")) == "no_signing_key"
    hs = f"{b64url(json.dumps({'alg': 'HS256', 'url': '/v1/x'}).encode())}.{b64url(b'{}')}.{b64url(b'mac')}"
    assert reason(hs) == "unsupported_algorithm"
    none = f"{b64url(json.dumps({'alg': 'none'}).encode())}.{b64url(b'{}')}."
    assert reason(none) == "unsupported_algorithm"
    assert reason("not a jws") == "malformed_jws"
    assert reason("a.b.c") == "malformed_jws"
    signed = cryptography_jws(private, "ES512", url_header("ES512", kid), b'{"amount":1}')
    head, _, signature = signed.split(".")
    forged = b64url(b'{"amount":1000}')
    assert reason(f"{head}.{forged}.{signature}") == "bad_signature"  # tampered payload


def test_keys_outside_their_validity_window_do_not_verify(keys: JoseKeys) -> None:
    private = new_key("ES256")
    kid = upload(keys, private, "ES256", valid_from="2030-01-01 00:00:00", valid_till="2031-01-01 00:00:00")
    token = cryptography_jws(private, "ES256", url_header("ES256", kid), b"{}")
    with pytest.raises(JoseError, match="not valid now") as refused:
        keys.verify(CLIENT, token)
    assert refused.value.code == "inactive_key"
    keys._clock.set(datetime(2030, 6, 1, tzinfo=UTC))  # inside the window
    assert keys.verify(CLIENT, token)[1] == b"{}"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"key_id": "not-a-uuid"}, "keyId"),
        ({"key_id": None}, "keyId"),
        ({"scope": "PAYLOAD_EVERYTHING"}, "scope"),
        ({"algorithm": "HS256"}, "publicKeyMaterial.algorithm"),
        ({"algorithm": "RSA_OAEP_256"}, "publicKeyMaterial.algorithm"),  # not a signing algorithm
        ({"key_material": "!!!"}, "publicKeyMaterial.keyMaterial"),
        ({"key_material": base64.b64encode(b"DER?").decode()}, "publicKeyMaterial.keyMaterial"),
        ({"key_material": der_b64(ec.generate_private_key(ec.SECP256R1()))}, "publicKeyMaterial.keyMaterial"),
        ({"algorithm": "PS256", "key_material": der_b64(WEAK_RSA)}, "publicKeyMaterial.keyMaterial"),
        ({"valid_from": "2026-01-01T00:00:00Z"}, "validFrom"),
        ({"valid_till": "2019-01-01 00:00:00"}, "validTill"),
    ],
)  # fmt: skip
def test_bad_uploads_are_refused_with_the_field_named(
    keys: JoseKeys, change: dict[str, Any], path: str
) -> None:
    upload_args: dict[str, Any] = {
        "key_id": str(uuid.uuid4()),
        "scope": "PAYLOAD_SIGNING",
        "algorithm": "ES512",
        "key_material": der_b64(new_key("ES512")),
        "valid_from": "2020-01-01 00:00:00",
    }
    with pytest.raises(ValidationError) as refused:
        keys.upload(CLIENT, **(upload_args | change))
    assert path in [e.path for e in refused.value.errors]
    assert keys.partner_keys(CLIENT) == []


def test_a_key_id_is_unique_per_client(keys: JoseKeys) -> None:
    kid = upload(keys, new_key("ES256"), "ES256")
    with pytest.raises(ValidationError) as refused:
        upload(keys, new_key("ES256"), "ES256", key_id=kid)
    assert refused.value.status == 409 and refused.value.code == "NOT_UNIQUE"


# Wise's keys ---------------------------------------------------------------------------------------


def test_wise_keys_are_made_on_first_use_and_rotate(keys: JoseKeys) -> None:
    assert keys.sandbox_keys() == []
    first = keys.sandbox_key(KeyScope.PAYLOAD_SIGNING, "ES512")
    assert keys.sandbox_key(KeyScope.PAYLOAD_SIGNING, "ES512") is first
    body = first.as_json()
    assert body["version"] == 1 and body["scope"] == "PAYLOAD_SIGNING"
    assert isinstance(public_from_der_b64(body["keyMaterial"]["keyMaterial"]).curve, ec.SECP521R1)
    assert keys.rotate() == 2
    second = keys.sandbox_key(KeyScope.PAYLOAD_SIGNING, "ES512")
    assert second.version == 2 and second.public_der != first.public_der
    assert keys.sandbox_key(KeyScope.PAYLOAD_SIGNING, "ES512", version=1) is first
    with pytest.raises(LookupError):
        keys.sandbox_key(KeyScope.PAYLOAD_SIGNING, "ES512", version=3)
    with pytest.raises(ValueError):
        keys.sandbox_key(KeyScope.PAYLOAD_ENCRYPTION, "ES512")


def test_responses_verify_and_decrypt_with_cryptography(keys: JoseKeys) -> None:
    wise = keys.sandbox_key(KeyScope.PAYLOAD_SIGNING, "ES512")
    signed = sign(b'{"ok":true}', wise)
    header, payload = cryptography_verify(
        signed, public_from_der_b64(wise.as_json()["keyMaterial"]["keyMaterial"])
    )
    assert header == {"version": 1, "alg": "ES512"} and payload == b'{"ok":true}'  # the docs' header §7.2

    partner = rsa.generate_private_key(65537, 2048)
    kid = upload(keys, partner, "RSA_OAEP_256", scope="PAYLOAD_ENCRYPTION")
    key = keys.encryption_key(CLIENT)
    assert key is not None and key.key_id == kid
    first, second = encrypt(b"one", key), encrypt(b"one", key)
    h1, p1, cek1 = cryptography_decrypt(first, partner)
    _, _, cek2 = cryptography_decrypt(second, partner)
    assert h1 == {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": kid} and p1 == b"one"
    assert cek1 != cek2  # a new content key for every response [C] §7.3

    direct = encrypt_direct(b"pin ok", cek1)
    assert cryptography_decrypt(direct, cek=cek1)[:2] == ({"enc": "A256GCM", "alg": "dir"}, b"pin ok")


@pytest.mark.parametrize("maker", ["jwcrypto", "cryptography"])
def test_requests_encrypted_to_wise_decrypt(keys: JoseKeys, maker: str) -> None:
    material = keys.sandbox_key(KeyScope.PAYLOAD_ENCRYPTION, "RSA_OAEP_256").as_json()["keyMaterial"]
    public = public_from_der_b64(material["keyMaterial"])
    header = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "url": "/v1/cases"}
    if maker == "jwcrypto":
        jwe = JWE(b'{"pin":"1234"}', protected=json_encode(header))
        jwe.add_recipient(JWK.from_pyca(public))
        token, cek = jwe.serialize(compact=True), None
    else:
        sealed = cryptography_jwe(public, header, b'{"pin":"1234"}')
        token, cek = sealed.compact, sealed.cek
    got_header, plaintext, got_cek = keys.decrypt(token)
    assert got_header["url"] == "/v1/cases" and plaintext == b'{"pin":"1234"}' and len(got_cek) == 32
    if cek is not None:
        assert got_cek == cek


def test_decryption_failures_are_marked_for_the_generic_500(keys: JoseKeys) -> None:
    public = public_from_der_b64(
        keys.sandbox_key(KeyScope.PAYLOAD_ENCRYPTION, "RSA_OAEP_256").as_json()["keyMaterial"]["keyMaterial"]
    )
    good = cryptography_jwe(public, {"alg": "RSA-OAEP-256", "enc": "A256GCM"}, b"{}").compact
    stranger = cryptography_jwe(
        rsa.generate_private_key(65537, 2048).public_key(), {"alg": "RSA-OAEP-256", "enc": "A256GCM"}, b"{}"
    ).compact
    a128 = cryptography_jwe(public, {"alg": "RSA-OAEP-256", "enc": "A128GCM"}, b"{}").compact
    parts = good.split(".")
    tampered = ".".join([*parts[:3], b64url(b"x" * 8), parts[4]])
    cases = {stranger: "decryption_failed", a128: "unsupported_algorithm", tampered: "decryption_failed",
             "junk": "malformed_jwe", good.replace("eyJ", "eyK", 1): "malformed_jwe"}  # fmt: skip
    for token, code in cases.items():
        with pytest.raises(JoseError) as refused:
            keys.decrypt(token)
        assert refused.value.decryption and refused.value.code == code, token[:40]
    keys.rotate()  # a client still encrypting to the old key fails until it fetches the new one
    with pytest.raises(JoseError, match="current key"):
        keys.decrypt(good)


def test_reset_forgets_uploads_but_keeps_wise_keys(tenant: Tenant, keys: JoseKeys) -> None:
    seeded = upload(keys, new_key("ES256"), "ES256")
    tenant.mark_seeded()
    upload(keys, new_key("ES256"), "ES256")
    wise = keys.sandbox_key(KeyScope.PAYLOAD_SIGNING, "ES256")
    tenant.reset()
    assert [k.key_id for k in keys.partner_keys(CLIENT)] == [seeded]
    assert keys.sandbox_key(KeyScope.PAYLOAD_SIGNING, "ES256") is wise
    keys.remove(CLIENT, seeded)
    with pytest.raises(LookupError):
        keys.remove(CLIENT, seeded)
