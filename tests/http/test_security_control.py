"""The control plane for enhanced security: JOSE key rotation, SCA switches and keys."""

from __future__ import annotations

import httpx
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.routing import Route

from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from mockwise._http import jose, sca
from mockwise._http.control import security as security_control
from tests.helpers import bearer, client_credentials, public_pem, sign_ott
from tests.jose_helpers import key_upload, new_key


def test_jose_keys_rotate_and_partner_keys_are_listed(
    api: httpx.Client, creds: Credentials, tenant: Tenant
) -> None:
    base = f"/_mockwise/tenants/{tenant.id}/jose"
    cc = bearer(client_credentials(api, creds))
    query = "/v1/auth/jose/response/public-keys?algorithm=ES512&scope=PAYLOAD_SIGNING"
    first = api.get(query, headers=cc).json()
    body = key_upload(new_key("ES256"), "ES256")
    api.post("/v1/auth/jose/request/public-keys", headers=cc, json=body)
    described = api.get(base).json()
    assert described["version"] == 1 and [k["keyId"] for k in described["sandbox_keys"]] == [first["keyId"]]
    client_id = creds.clients[0]["client_id"]
    assert described["partner_keys"][client_id][0]["keyId"] == body["keyId"]
    assert described["partner_keys"][client_id][0]["active"] is True

    assert api.post(f"{base}/rotate").json() == {"version": 2}
    second = api.get(query, headers=cc).json()
    assert second["version"] == 2 and second["keyMaterial"] != first["keyMaterial"]
    assert api.get(query + "&version=1", headers=cc).json() == first

    gone = api.delete(f"{base}/clients/{client_id}/keys/{body['keyId']}")
    assert gone.status_code == 204 and api.get(base).json()["partner_keys"] == {}
    assert api.delete(f"{base}/clients/{client_id}/keys/{body['keyId']}").status_code == 404


def test_sca_switches_and_keys(api: httpx.Client, creds: Credentials, tenant: Tenant) -> None:
    base = f"/_mockwise/tenants/{tenant.id}"
    alex = creds.users[0]
    assert api.get(f"{base}/sca").json() == {
        "personal_tokens": False, "user_tokens": False, "users": {}, "one_time_tokens": 0,
    }  # fmt: skip
    assert api.patch(f"{base}/sca", json={"user_tokens": True}).json()["user_tokens"] is True
    assert tenant.settings.sca.user_tokens and not tenant.settings.sca.personal_tokens
    assert api.patch(f"{base}/sca", json={"user_tokens": "yes"}).status_code == 400

    made = api.post(f"{base}/users/{alex['id']}/sca-keys", json={})
    assert made.status_code == 201 and made.json()["bits"] == 2048
    private = serialization.load_pem_private_key(made.json()["private_key"].encode(), None)
    assert isinstance(private, rsa.RSAPrivateKey)
    pem = public_pem(rsa.generate_private_key(65537, 2048))
    uploaded = api.post(f"{base}/users/{alex['id']}/sca-keys", json={"public_key": pem})
    assert uploaded.status_code == 201 and "private_key" not in uploaded.json()
    assert api.post(f"{base}/users/{alex['id']}/sca-keys", json={"public_key": "junk"}).status_code == 400

    assert api.put(f"{base}/users/{alex['id']}/sca", json={"required": True}).status_code == 200
    assert api.put(f"{base}/users/{alex['id']}/sca", json={}).status_code == 400
    assert api.put(f"{base}/users/999/sca", json={"required": True}).status_code == 404
    state = api.get(f"{base}/sca").json()["users"][str(alex["id"])]
    assert state["required"] is True and len(state["keys"]) == 2 and state["locked_until"] is None

    # the generated key signs a real challenge
    business = next(p for p in alex["profiles"] if p["type"] == "business")
    path = f"/v3/profiles/{business['id']}/transfers/1/payments"
    headers = bearer(creds.personal_tokens[0]["token"])
    ott = api.post(path, headers=headers, json={"type": "BALANCE"}).headers["x-2fa-approval"]
    signature = sign_ott(made.json()["private_key"], ott)
    funded = api.post(
        path, headers=headers | {"x-2fa-approval": ott, "X-Signature": signature}, json={"type": "BALANCE"}
    )
    assert funded.status_code == 201

    fingerprint = made.json()["fingerprint"]
    assert api.delete(f"{base}/users/{alex['id']}/sca-keys/{fingerprint}").status_code == 204
    assert api.delete(f"{base}/users/{alex['id']}/sca-keys/{fingerprint}").status_code == 404
    assert api.put(f"{base}/users/{alex['id']}/sca", json={"required": None}).status_code == 200
    assert api.get(f"{base}/sca").json()["users"][str(alex["id"])]["required"] is None


ROUTES = [*security_control.routes, *jose.routes, *sca.routes]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{sorted(r.methods)}{r.path}")
def test_each_docstring_is_an_openapi_operation(route: Route) -> None:
    """Both planes' OpenAPI is read from handlers' docstrings (pure YAML)."""
    operation = yaml.safe_load(route.endpoint.__doc__ or "")
    assert isinstance(operation, dict) and {"summary", "tags", "responses"} <= set(operation)
    assert all(isinstance(code, int) for code in operation["responses"])
    assert operation["tags"] == (["security"] if route in security_control.routes else operation["tags"])
