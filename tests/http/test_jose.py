"""JOSE over HTTP (§7): key endpoints, playgrounds, JOSE on ordinary endpoints, every failure path.

Requests are signed and encrypted with jwcrypto and with `cryptography` (tests/jose_helpers.py);
answers are opened the same independent ways."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwcrypto.common import json_encode
from jwcrypto.jwe import JWE
from jwcrypto.jwk import JWK

from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from tests.helpers import bearer, client_credentials, registration_tokens, user_token
from tests.jose_helpers import (
    b64url,
    cryptography_decrypt,
    cryptography_jwe,
    cryptography_jws,
    cryptography_verify,
    jwcrypto_jws,
    key_upload,
    new_key,
    public_from_der_b64,
)

JWS_PLAYGROUND = "/v1/auth/jose/playground/jws"
JWE_PLAYGROUND = "/v1/auth/jose/playground/jwe"
DIRECT_PLAYGROUND = "/v1/auth/jose/playground/jwe-direct-encryption"
JWSJWE_PLAYGROUND = "/v1/auth/jose/playground/jwsjwe"
JWE_HEADER = {"alg": "RSA-OAEP-256", "enc": "A256GCM"}


def jose(method: str, token: str) -> dict[str, str]:
    return bearer(token) | {
        "Content-Type": "application/jose+json",
        "Accept": "application/jose+json",
        "X-TW-JOSE-Method": method,
        "Accept-Encoding": "identity",
    }


class Partner:
    """A partner with a client-credentials token, its own key pairs, and Wise's public keys."""

    def __init__(self, api: httpx.Client, creds: Credentials, alg: str = "ES512") -> None:
        self.api = api
        self.token = client_credentials(api, creds)
        self.alg = alg
        self.signing = new_key(alg)
        self.encryption = rsa.generate_private_key(65537, 2048)
        self.signing_kid = self.upload(key_upload(self.signing, alg))
        self.encryption_kid = self.upload(key_upload(self.encryption, "RSA_OAEP_256", "PAYLOAD_ENCRYPTION"))

    def upload(self, body: dict[str, Any]) -> str:
        response = self.api.post("/v1/auth/jose/request/public-keys", headers=bearer(self.token), json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["keyId"])

    def wise_key(self, algorithm: str, scope: str, **params: Any) -> Any:
        response = self.api.get(
            "/v1/auth/jose/response/public-keys",
            params={"algorithm": algorithm, "scope": scope, **params},
            headers=bearer(self.token),
        )
        assert response.status_code == 200, response.text
        return public_from_der_b64(response.json()["keyMaterial"]["keyMaterial"])

    def jws(
        self, path: str, payload: dict[str, Any] | bytes, maker: Any = cryptography_jws, **header: Any
    ) -> str:
        """A JWS of `payload` for `path`; `header` overrides members (None removes one)."""
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        head = {"alg": self.alg, "typ": "JWT", "kid": self.signing_kid, "url": path} | header
        return str(maker(self.signing, self.alg, {k: v for k, v in head.items() if v is not None}, raw))

    def jwe(self, payload: bytes, **header: Any):  # type: ignore[no-untyped-def]
        return cryptography_jwe(
            self.wise_key("RSA_OAEP_256", "PAYLOAD_ENCRYPTION"), JWE_HEADER | header, payload
        )


@pytest.fixture
def partner(api: httpx.Client, creds: Credentials) -> Partner:
    return Partner(api, creds)


def refusal(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/json", response.text
    body = response.json()
    assert body["status"] == response.status_code and body["path"]
    return response.status_code, response.headers["x-mockwise-jose-error"]


# Keys (§7.5) -----------------------------------------------------------------------------------------


def test_upload_answers_201_in_wise_shape(api: httpx.Client, creds: Credentials) -> None:
    token = client_credentials(api, creds)
    body = key_upload(new_key("ES256"), "ES256")
    response = api.post("/v1/auth/jose/request/public-keys", headers=bearer(token), json=body)
    assert response.status_code == 201
    assert response.json() == body | {"clientId": None, "deactivationTimestamp": None}


def test_upload_refusals(api: httpx.Client, creds: Credentials) -> None:
    token = client_credentials(api, creds)
    headers = bearer(token)
    bad = api.post("/v1/auth/jose/request/public-keys", headers=headers, json={"scope": "NOPE"})
    assert bad.status_code == 400
    assert {e["path"] for e in bad.json()["errors"]} == {
        "keyId",
        "scope",
        "publicKeyMaterial.algorithm",
        "publicKeyMaterial.keyMaterial",
    }
    body = key_upload(new_key("ES256"), "ES256")
    api.post("/v1/auth/jose/request/public-keys", headers=headers, json=body)
    again = api.post("/v1/auth/jose/request/public-keys", headers=headers, json=body)
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "NOT_UNIQUE"
    not_json = api.post("/v1/auth/jose/request/public-keys", headers=headers, content=b"[")
    assert not_json.status_code == 400
    user = registration_tokens(api, creds)["access_token"]
    assert api.post("/v1/auth/jose/request/public-keys", headers=bearer(user), json=body).status_code == 403
    assert api.post("/v1/auth/jose/request/public-keys", json=body).status_code == 401


def test_wise_public_keys_and_the_legacy_path(partner: Partner, api: httpx.Client) -> None:
    response = api.get(
        "/v1/auth/jose/response/public-keys?algorithm=ES512&scope=PAYLOAD_SIGNING",
        headers=bearer(partner.token),
    )
    body = response.json()
    assert set(body) == {"keyId", "version", "keyMaterial", "scope"} and body["version"] == 1
    assert body["keyMaterial"]["algorithm"] == "ES512" and uuid.UUID(body["keyId"])
    legacy = api.get(
        "/v1/auth/jwt-public-key?algorithm=ES512&scope=PAYLOAD_SIGNING", headers=bearer(partner.token)
    )
    assert legacy.json() == body
    hyphen = api.get(
        "/v1/auth/jose/response/public-keys?algorithm=RSA-OAEP-256&scope=PAYLOAD_ENCRYPTION",
        headers=bearer(partner.token),
    )
    assert hyphen.json()["keyMaterial"]["algorithm"] == "RSA_OAEP_256"


@pytest.mark.parametrize(
    ("query", "status", "paths"),
    [
        ("", 400, {"scope", "algorithm"}),
        ("?algorithm=HS256&scope=PAYLOAD_SIGNING", 400, {"algorithm"}),
        ("?algorithm=ES512&scope=PAYLOAD_ENCRYPTION", 400, {"algorithm"}),
        ("?algorithm=ES512&scope=PAYLOAD_SIGNING&version=x", 400, {"version"}),
        ("?algorithm=ES512&scope=PAYLOAD_SIGNING&version=2", 404, set()),
    ],
)
def test_wise_public_key_query_errors(
    partner: Partner, api: httpx.Client, query: str, status: int, paths: set[str]
) -> None:
    response = api.get("/v1/auth/jose/response/public-keys" + query, headers=bearer(partner.token))
    assert response.status_code == status
    if paths:
        assert {e["path"] for e in response.json()["errors"]} == paths


# Playgrounds (§7.5) ----------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512", "PS256", "PS384", "PS512"])
@pytest.mark.parametrize("maker", [jwcrypto_jws, cryptography_jws], ids=["jwcrypto", "cryptography"])
def test_jws_playground_with_every_algorithm(
    api: httpx.Client, creds: Credentials, alg: str, maker: Any
) -> None:
    partner = Partner(api, creds, alg)
    response = api.post(
        JWS_PLAYGROUND,
        headers=jose("jws", partner.token),
        content=partner.jws(JWS_PLAYGROUND, {"message": "hello"}, maker),
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/jose+json"
    header, payload = cryptography_verify(response.text, partner.wise_key("ES512", "PAYLOAD_SIGNING"))
    assert header == {"version": 1, "alg": "ES512"}  # as the docs' example [C] §7.2
    assert json.loads(payload) == {"message": "jose-playground-response-hello", "method": "POST"}


def test_jwe_playground_post_and_get(partner: Partner, api: httpx.Client) -> None:
    sealed = partner.jwe(b'{"message":"secret"}', url=JWE_PLAYGROUND)
    response = api.post(JWE_PLAYGROUND, headers=jose("jwe", partner.token), content=sealed.compact)
    assert response.status_code == 200 and response.headers["content-type"] == "application/jose+json"
    header, plaintext, cek = cryptography_decrypt(response.text, partner.encryption)
    assert header == {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": partner.encryption_kid}
    assert json.loads(plaintext) == {"message": "jose-playground-response-secret", "method": "POST"}
    assert cek != sealed.cek  # Wise does not re-use the request's content key [C] §7.3
    got = api.get(
        JWE_PLAYGROUND, headers=jose("jwe", partner.token)
    )  # body-less: only the answer is encrypted
    assert json.loads(cryptography_decrypt(got.text, partner.encryption)[1]) == {
        "message": "jose-playground-response-",
        "method": "GET",
    }


def test_every_answer_gets_a_new_content_key(partner: Partner, api: httpx.Client) -> None:
    keys = set()
    for _ in range(3):
        response = api.get(JWE_PLAYGROUND, headers=jose("jwe", partner.token))
        jwe = JWE()
        jwe.deserialize(response.text, JWK.from_pyca(partner.encryption))  # and jwcrypto opens it too
        keys.add(jwe.cek)
    assert len(keys) == 3


def test_direct_encryption_answers_with_the_request_key(partner: Partner, api: httpx.Client) -> None:
    sealed = partner.jwe(b'{"message":"pin"}')
    response = api.post(DIRECT_PLAYGROUND, headers=jose("jwe", partner.token), content=sealed.compact)
    header, plaintext, _ = cryptography_decrypt(response.text, cek=sealed.cek)
    assert header == {"enc": "A256GCM", "alg": "dir"}
    assert json.loads(plaintext)["message"] == "jose-playground-response-pin"


def test_jws_jwe_playground_signs_then_encrypts(partner: Partner, api: httpx.Client) -> None:
    signed = partner.jws(JWSJWE_PLAYGROUND, {"message": "both"})
    jwe = JWE(signed.encode(), protected=json_encode(JWE_HEADER))  # jwcrypto this time
    jwe.add_recipient(JWK.from_pyca(partner.wise_key("RSA_OAEP_256", "PAYLOAD_ENCRYPTION")))
    response = api.post(
        JWSJWE_PLAYGROUND, headers=jose("jws+jwe", partner.token), content=jwe.serialize(compact=True)
    )
    assert response.status_code == 200, response.text
    header, inner, _ = cryptography_decrypt(response.text, partner.encryption)
    assert header["kid"] == partner.encryption_kid
    _, payload = cryptography_verify(inner.decode(), partner.wise_key("ES512", "PAYLOAD_SIGNING"))
    assert json.loads(payload)["message"] == "jose-playground-response-both"


def test_playgrounds_under_their_2026q3_names(partner: Partner, api: httpx.Client) -> None:
    # The JWS `url` is the path as called; direct encryption follows the operation, not its name.
    name = "/2026Q3/auth/jose/playground/jws"
    signed = api.post(name, headers=jose("jws", partner.token), content=partner.jws(name, {"message": "q3"}))
    assert signed.status_code == 200, signed.text
    _, payload = cryptography_verify(signed.text, partner.wise_key("ES512", "PAYLOAD_SIGNING"))
    assert json.loads(payload)["message"] == "jose-playground-response-q3"
    sealed = partner.jwe(b'{"message":"pin"}')
    direct = api.post(
        "/2026Q3/auth/jose/playground/jwe-direct-encryption",
        headers=jose("jwe", partner.token),
        content=sealed.compact,
    )
    header, plaintext, _ = cryptography_decrypt(direct.text, cek=sealed.cek)
    assert header == {"enc": "A256GCM", "alg": "dir"}
    assert json.loads(plaintext)["message"] == "jose-playground-response-pin"


def test_playgrounds_reject_non_jose_input(partner: Partner, api: httpx.Client) -> None:
    plain = api.post(JWS_PLAYGROUND, headers=bearer(partner.token), json={"message": "hi"})
    assert plain.status_code == 400 and "X-TW-JOSE-Method: jws" in plain.json()["message"]
    wrong = api.post(
        JWSJWE_PLAYGROUND,
        headers=jose("jws", partner.token),
        content=partner.jws(JWSJWE_PLAYGROUND, {"message": "x"}),
    )
    assert wrong.status_code == 400
    too_long = api.post(
        JWS_PLAYGROUND,
        headers=jose("jws", partner.token),
        content=partner.jws(JWS_PLAYGROUND, {"message": "x" * 101}),
    )
    assert too_long.status_code == 400 and too_long.json()["errors"][0]["code"] == "Size"
    missing = api.post(
        JWS_PLAYGROUND, headers=jose("jws", partner.token), content=partner.jws(JWS_PLAYGROUND, {})
    )
    assert missing.json()["errors"][0]["code"] == "NotNull"


# JOSE on an ordinary endpoint ------------------------------------------------------------------------


def test_jws_on_transfer_funding_with_a_user_token(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    partner = Partner(api, creds)
    lena = creds.users[1]
    pid = lena["profiles"][0]["id"]
    access = user_token(api, tenant, creds, lena["email"], pid)
    path = f"/v3/profiles/{pid}/transfers/12345/payments"
    response = api.post(path, headers=jose("jws", access), content=partner.jws(path, {"type": "BALANCE"}))
    assert response.status_code == 201
    _, payload = cryptography_verify(response.text, partner.wise_key("ES512", "PAYLOAD_SIGNING"))
    assert json.loads(payload)["status"] == "COMPLETED"
    versioned = "/2026Q3" + path  # the url is the path as called, CalVer prefix and all
    assert (
        api.post(
            versioned, headers=jose("jws", access), content=partner.jws(versioned, {"type": "BALANCE"})
        ).status_code
        == 201
    )
    entry = list(tenant.journal)[-1]
    assert entry.jose == f"jws kid={partner.signing_kid}" and entry.status == 201
    errors_stay_plain = api.post(
        path, headers=jose("jws", access), content=partner.jws(path, {"type": "CARD"})
    )
    assert errors_stay_plain.status_code == 400 and errors_stay_plain.json()["errors"][0]["path"] == "type"
    tenant.settings = tenant.settings.apply({"jose.wrap_errors": True})
    wrapped = api.post(path, headers=jose("jws", access), content=partner.jws(path, {"type": "CARD"}))
    assert wrapped.status_code == 400 and wrapped.headers["content-type"] == "application/jose+json"


def test_response_signing_algorithm_is_a_setting(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    partner = Partner(api, creds, "PS256")
    tenant.settings = tenant.settings.apply({"jose.response_signing_algorithm": "request"})
    response = api.post(
        JWS_PLAYGROUND,
        headers=jose("jws", partner.token),
        content=partner.jws(JWS_PLAYGROUND, {"message": "m"}),
    )
    header, _ = cryptography_verify(response.text, partner.wise_key("PS256", "PAYLOAD_SIGNING"))
    assert header["alg"] == "PS256"


# Every failure path: a clear, documented answer, never a crash ---------------------------------------


def test_failures_name_their_reason(partner: Partner, api: httpx.Client, creds: Credentials) -> None:
    headers = jose("jws", partner.token)
    stranger = new_key("ES512")
    cases = {
        "bad_signature": partner.jws(
            JWS_PLAYGROUND, {"message": "m"}, lambda k, a, h, p: cryptography_jws(stranger, a, h, p)
        ),
        "url_mismatch": partner.jws("/v1/auth/jose/playground/jwe", {"message": "m"}),
        "missing_url": partner.jws(JWS_PLAYGROUND, {"message": "m"}, url=None),
        "unknown_kid": partner.jws(JWS_PLAYGROUND, {"message": "m"}, kid=str(uuid.uuid4())),
        "unsupported_algorithm": b64url(json.dumps({"alg": "HS256", "url": JWS_PLAYGROUND}).encode())
        + ".e30.AA",
        "malformed_jws": "not.a.jws",
    }
    for code, body in cases.items():
        response = api.post(JWS_PLAYGROUND, headers=headers, content=body)
        assert refusal(response) == (400, code), response.text
    assert (
        "does not match the request path"
        in api.post(JWS_PLAYGROUND, headers=headers, content=cases["url_mismatch"]).json()["message"]
    )
    no_method = api.post(
        JWS_PLAYGROUND,
        headers=jose("jws", partner.token) | {"X-TW-JOSE-Method": "jwt"},
        content=cases["malformed_jws"],
    )
    assert refusal(no_method) == (400, "unsupported_method")
    bare = {k: v for k, v in headers.items() if k != "X-TW-JOSE-Method"}
    assert refusal(api.post(JWS_PLAYGROUND, headers=bare, content=cases["malformed_jws"])) == (
        400,
        "missing_method",
    )
    personal = jose("jws", creds.personal_tokens[0]["token"])
    assert refusal(api.post(JWS_PLAYGROUND, headers=personal, content=cases["malformed_jws"])) == (
        400,
        "no_client",
    )


def test_refusal_status_is_a_setting(partner: Partner, api: httpx.Client, tenant: Tenant) -> None:
    tenant.settings = tenant.settings.apply({"jose.refusal_status": 401})
    response = api.post(
        JWS_PLAYGROUND,
        headers=jose("jws", partner.token),
        content=partner.jws("/elsewhere", {"message": "m"}),
    )
    assert refusal(response) == (401, "url_mismatch")
    entry = list(tenant.journal)[-1]
    assert entry.jose == "refused:url_mismatch" and entry.error == "url_mismatch" and entry.status == 401


def test_decryption_failures_are_the_generic_500(partner: Partner, api: httpx.Client, tenant: Tenant) -> None:
    stranger = rsa.generate_private_key(65537, 2048).public_key()
    cases = {
        "decryption_failed": cryptography_jwe(stranger, JWE_HEADER, b"{}").compact,
        "unsupported_algorithm": partner.jwe(b"{}", enc="A128GCM").compact,
        "malformed_jwe": "eyJhbGciOiJub25lIn0.x.y.z.w",
    }
    for code, body in cases.items():
        response = api.post(JWE_PLAYGROUND, headers=jose("jwe", partner.token), content=body)
        assert refusal(response) == (500, code)
        assert response.json()["error"] == "Internal Server Error"
        assert response.json()["message"] == "No message available"  # generic, as Wise documents §7.3
    old = partner.jwe(b'{"message":"m"}')
    tenant.jose.rotate()  # the partner's cached Wise key is now stale...
    assert refusal(api.post(JWE_PLAYGROUND, headers=jose("jwe", partner.token), content=old.compact)) == (
        500,
        "decryption_failed",
    )
    fresh = partner.jwe(b'{"message":"m"}')  # ...until it fetches the key again, as Wise advises
    assert (
        api.post(JWE_PLAYGROUND, headers=jose("jwe", partner.token), content=fresh.compact).status_code == 200
    )


def test_jwe_needs_the_partner_encryption_key_unless_direct(api: httpx.Client, creds: Credentials) -> None:
    token = client_credentials(api, creds)
    wise = public_from_der_b64(
        api.get(
            "/v1/auth/jose/response/public-keys?algorithm=RSA_OAEP_256&scope=PAYLOAD_ENCRYPTION",
            headers=bearer(token),
        ).json()["keyMaterial"]["keyMaterial"]
    )
    sealed = cryptography_jwe(wise, JWE_HEADER, b'{"message":"m"}')
    assert refusal(api.post(JWE_PLAYGROUND, headers=jose("jwe", token), content=sealed.compact)) == (
        400,
        "no_encryption_key",
    )
    direct = api.post(DIRECT_PLAYGROUND, headers=jose("jwe", token), content=sealed.compact)
    assert direct.status_code == 200 and cryptography_decrypt(direct.text, cek=sealed.cek)[0]["alg"] == "dir"
    assert refusal(api.post(DIRECT_PLAYGROUND, headers=jose("jwe", token))) == (400, "no_content_key")


def test_a_bad_bearer_still_gets_the_usual_401(api: httpx.Client) -> None:
    response = api.post(
        JWS_PLAYGROUND, headers=jose("jws", "0b0b0b0b-0000-4000-8000-000000000000"), content="a.b.c"
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


def test_an_oversized_jose_body_is_413(partner: Partner, api: httpx.Client) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(70):
            yield b"a" * 1024

    response = api.post(JWS_PLAYGROUND, headers=jose("jws", partner.token), content=chunks())
    assert response.status_code == 413


_b64 = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=40)
_headers = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["ES512", "PS256", "RSA-OAEP-256", "dir", "none", "HS256", ""])
        | st.text(max_size=8),
        "enc": st.sampled_from(["A256GCM", "A128GCM", ""]) | st.integers(),
        "kid": st.text(max_size=40) | st.integers(),
        "url": st.sampled_from([JWS_PLAYGROUND, JWE_PLAYGROUND, ""]) | st.lists(st.integers(), max_size=2),
        "crit": st.lists(st.text(max_size=5), max_size=2),
        "zip": st.sampled_from(["DEF", "x"]),
        "b64": st.booleans(),
    },
)


@st.composite
def hostile_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["compact", "parts", "json", "binary", "text"]))
    if kind == "compact":
        head = b64url(json.dumps(draw(_headers)).encode())
        rest = draw(st.lists(_b64, min_size=1, max_size=5))
        return ".".join([head, *rest]).encode()
    if kind == "parts":
        return ".".join(draw(st.lists(_b64, max_size=6))).encode()
    if kind == "json":
        return json.dumps(
            {
                "protected": draw(_b64),
                "payload": draw(_b64),
                "signature": draw(_b64),
                "ciphertext": draw(_b64),
            }
        ).encode()
    if kind == "binary":
        return draw(st.binary(max_size=200))
    return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["jws", "jwe", "jws+jwe", "JWS", " jwe ", "", "jwt", "jws+jwe+jws"])
    | st.text(max_size=12).filter(str.isprintable),
    path=st.sampled_from(
        [JWS_PLAYGROUND, JWE_PLAYGROUND, DIRECT_PLAYGROUND, JWSJWE_PLAYGROUND, "/v1/me", "/nowhere"]
    ),
    body=hostile_bodies(),
)
def test_hostile_jose_never_crashes(
    partner: Partner, api: httpx.Client, method: str, path: str, body: bytes
) -> None:
    headers = jose("jws", partner.token)
    headers["X-TW-JOSE-Method"] = method.encode("ascii", "ignore").decode()
    response = api.post(path, headers=headers, content=body)
    assert response.status_code in {400, 404, 405, 413, 500}, response.text
    data = response.json()
    if response.status_code == 500:  # only ever the documented decryption failure, never a mockwise bug
        assert data["message"] == "No message available" and "x-mockwise-jose-error" in response.headers
    assert "mockwise internal error" not in response.text


def test_deeply_nested_headers_are_refused_cleanly(partner: Partner, api: httpx.Client) -> None:
    deep = b64url(("[" * 20000 + "]" * 20000).encode())
    jws = api.post(JWS_PLAYGROUND, headers=jose("jws", partner.token), content=f"{deep}.e30.AA")
    assert refusal(jws) == (400, "malformed_jws")
    jwe = api.post(JWE_PLAYGROUND, headers=jose("jwe", partner.token), content=f"{deep}.a.b.c.d")
    assert refusal(jwe) == (500, "malformed_jwe")
