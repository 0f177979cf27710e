"""The control plane over HTTP: every operation, its errors, and tenant isolation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.scenarios import SCENARIOS
from mockwise._http.app import create_app
from mockwise._http.control.common import DEPRECATED_SINCE
from mockwise._transport.inprocess import SyncASGITransport
from tests.helpers import bearer

C = "/_mockwise"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def tenant_doc(api: httpx.Client) -> dict[str, Any]:
    response = api.post(f"{C}/tenants", json={"id": "acme"})
    assert response.status_code == 201, response.text
    return dict(response.json())


def partner_token(api: httpx.Client, doc: dict[str, Any], **form: str) -> httpx.Response:
    client = doc["clients"][0]
    return api.post("/oauth/token", auth=(client["client_id"], client["client_secret"]), data=form)


def registration_grant(api: httpx.Client, doc: dict[str, Any]) -> httpx.Response:
    """The registration-code grant for the tenant's partner-created user (users[2])."""
    user = doc["users"][2]
    return partner_token(
        api,
        doc,
        grant_type="registration_code",
        email=user["email"],
        registration_code=user["registration_code"],
    )


# Tenants -------------------------------------------------------------------------------------


def test_create_tenant_answers_with_credentials_like_sandbox_json(tenant_doc: dict[str, Any]) -> None:
    assert tenant_doc["tenant"] == "acme"
    assert tenant_doc["control_url"].endswith("/_mockwise/tenants/acme")
    assert {"client_id", "client_secret", "redirect_uris"} <= set(tenant_doc["clients"][0])
    assert all({"id", "email", "password", "profiles"} <= set(u) for u in tenant_doc["users"])
    assert {"token", "user_id"} <= set(tenant_doc["personal_tokens"][0])


def test_list_get_delete_tenant(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    assert [t["id"] for t in api.get(f"{C}/tenants").json()["tenants"]] == ["acme"]
    described = api.get(f"{C}/tenants/acme").json()
    assert described["clients"][0]["client_id"] == tenant_doc["clients"][0]["client_id"]
    assert "client_secret" not in str(described)
    assert api.delete(f"{C}/tenants/acme").status_code == 204
    assert api.get(f"{C}/tenants/acme").json() == {"error": "not_found", "message": "no tenant 'acme'"}
    assert partner_token(api, tenant_doc, grant_type="client_credentials").status_code == 401


def test_create_tenant_errors(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    assert api.post(f"{C}/tenants", json={"id": "acme"}).status_code == 409
    assert api.post(f"{C}/tenants", json={"id": "no spaces"}).status_code == 400
    assert api.post(f"{C}/tenants", json={"seed": 3}).status_code == 400
    assert api.post(f"{C}/tenants", json={"seed": {"clients": [{}]}}).json()["error"] == "invalid_request"
    assert api.post(f"{C}/tenants", json={"settings": {"oauth.nope": 1}}).status_code == 400
    assert api.post(f"{C}/tenants", content=b"{not json", headers=JSON).json()["error"] == "invalid_json"
    assert api.post(f"{C}/tenants", content=b"[]", headers=JSON).status_code == 400
    assert "acme" in {t["id"] for t in api.get(f"{C}/tenants").json()["tenants"]}


def test_empty_tenant_and_seeding_over_http(api: httpx.Client) -> None:
    assert api.post(f"{C}/tenants", json={"id": "blank", "seed": False}).json()["clients"] == []
    client = api.post(
        f"{C}/tenants/blank/clients",
        json={"client_id": "blank-partner", "redirect_uris": ["https://partner.example/cb"]},
    ).json()
    assert client["client_id"] == "blank-partner" and client["client_secret"]
    user = api.post(
        f"{C}/tenants/blank/users",
        json={
            "email": "kim@example.com",
            "password": "pw",
            "date_of_birth": "1990-01-02",
            "country": "FR",
            "first_name": "Kim",
            "last_name": "Lee",
            "profiles": [{"type": "personal", "balances": [{"currency": "EUR", "amount": 10}]}],
        },
    ).json()
    assert user["profiles"][0]["type"] == "personal" and user["country"] == "FR"
    business = api.post(
        f"{C}/tenants/blank/users/{user['id']}/profiles",
        json={"type": "business", "business_name": "Kim SAS"},
    )
    assert business.status_code == 201 and business.json()["name"] == "Kim SAS"
    token = api.post(f"{C}/tenants/blank/users/{user['id']}/personal-tokens").json()["token"]
    profiles = api.get("/v2/profiles", headers=bearer(token)).json()
    assert [p["type"] for p in profiles] == ["PERSONAL", "BUSINESS"]
    got = api.post(
        "/oauth/token",
        auth=(client["client_id"], client["client_secret"]),
        data={"grant_type": "client_credentials"},
    )
    assert got.status_code == 200


def test_seeding_errors(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    assert api.post(f"{C}/tenants/acme/users", json={}).json() == {
        "error": "invalid_request",
        "message": "missing 'email'",
    }
    taken = api.post(f"{C}/tenants/acme/users", json={"email": tenant_doc["users"][0]["email"]})
    assert taken.status_code == 409 and taken.json()["error"] == "conflict"  # the e-mail is taken
    assert "already exists" in taken.json()["message"]
    assert (
        api.post(
            f"{C}/tenants/acme/users", json={"email": "x@y.z", "date_of_birth": "not a date"}
        ).status_code
        == 400
    )
    assert api.post(f"{C}/tenants/acme/clients", json={"redirect_uris": "nope"}).status_code == 400
    assert api.post(f"{C}/tenants/acme/users/1/profiles", json={}).status_code == 404
    uid = tenant_doc["users"][0]["id"]
    assert api.post(f"{C}/tenants/acme/users/{uid}/profiles", json={"type": "alien"}).status_code == 400
    assert api.post(f"{C}/tenants/acme/users/{uid}/profiles", json={"colour": "red"}).status_code == 400


def test_reset_one_and_all(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    token = partner_token(api, tenant_doc, grant_type="client_credentials").json()["access_token"]
    api.post(f"{C}/tenants/acme/clock/advance", json={"seconds": 100})
    assert api.post(f"{C}/tenants/acme/reset").status_code == 200
    assert api.post("/v1/users/exists", headers=bearer(token), json={"email": "a@b.c"}).status_code == 401
    assert abs(api.get(f"{C}/tenants/acme/clock").json()["offset"]) < 1
    assert api.post(f"{C}/reset").json() == {"reset": ["acme"]}


def test_settings_get_and_patch(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    settings = api.get(f"{C}/tenants/acme/settings").json()
    assert settings["oauth.registration_code_failure_status"]["value"] == 401
    assert "guides" in settings["oauth.registration_code_failure_status"]["doc"]
    patched = api.patch(f"{C}/tenants/acme/settings", json={"oauth.registration_code_failure_status": 400})
    assert patched.status_code == 200
    api.post(f"{C}/tenants/acme/scenarios/reclaim", json={"user": tenant_doc["users"][2]["id"]})
    refused = registration_grant(api, tenant_doc)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    wrong = api.patch(f"{C}/tenants/acme/settings", json={"oauth.refresh_token_rotation": "yes"})
    assert wrong.status_code == 400


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("oauth.client_credentials_token_format", "jwt", "must be one of 'uuid', 'jwe'"),
        ("oauth.client_credentials_on_user_endpoints", 404, "must be one of 401, 403"),
        ("oauth.expired_token_memory", -1, "must not be negative"),
        ("authorize.login_session_lifetime", -60, "must not be negative"),
    ],
)
def test_settings_refuse_values_the_sandbox_cannot_act_on(
    api: httpx.Client, tenant_doc: dict[str, Any], setting: str, value: object, message: str
) -> None:
    before = api.get(f"{C}/tenants/acme/settings").json()[setting]["value"]
    refused = api.patch(f"{C}/tenants/acme/settings", json={setting: value})
    assert refused.status_code == 400 and message in refused.json()["message"]
    assert api.post(f"{C}/tenants", json={"settings": {setting: value}}).status_code == 400
    assert api.get(f"{C}/tenants/acme/settings").json()[setting]["value"] == before  # unchanged


# Clock ---------------------------------------------------------------------------------------


def test_clock_operations(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    frozen = api.post(f"{C}/tenants/acme/clock/freeze").json()
    assert frozen["frozen"] is True
    moved = api.post(f"{C}/tenants/acme/clock/advance", json={"seconds": 3600}).json()
    assert moved["epoch"] == pytest.approx(frozen["epoch"] + 3600)
    at = api.post(f"{C}/tenants/acme/clock/set", json={"at": "2031-05-06T07:08:09Z"}).json()
    assert at["now"] == "2031-05-06T07:08:09.000Z" and at["frozen"] is True
    assert api.post(f"{C}/tenants/acme/clock/set", json={"at": 1e9}).json()["now"].startswith("2001-09-09")
    assert api.post(f"{C}/tenants/acme/clock/unfreeze").json()["frozen"] is False
    assert api.get(f"{C}/tenants/acme/clock").json()["frozen"] is False


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("clock/advance", {}),
        ("clock/advance", {"seconds": "12h"}),
        ("clock/advance", {"seconds": True}),
        ("clock/advance", {"seconds": 1e30}),
        ("clock/set", {"at": "yesterday"}),
        ("clock/set", {"at": -5}),
    ],
)
def test_clock_errors(api: httpx.Client, tenant_doc: dict[str, Any], path: str, body: dict[str, Any]) -> None:
    response = api.post(f"{C}/tenants/acme/{path}", json=body)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_the_curl_story_expiry_is_explained_by_the_journal(
    api: httpx.Client, tenant_doc: dict[str, Any]
) -> None:
    """Issue 3's "done when": create a tenant, get a token, advance 12 h, see it refused, read why."""
    access = partner_token(api, tenant_doc, grant_type="client_credentials").json()["access_token"]
    api.post(f"{C}/tenants/acme/clock/advance", json={"seconds": 43200})
    refused = api.post("/v1/users/exists", headers=bearer(access), json={"email": "a@b.c"})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
    [entry] = api.get(f"{C}/tenants/acme/journal", params={"status": 401}).json()["entries"]
    assert entry["token_state"] == "expired" and entry["path"] == "/v1/users/exists"


# Scenarios -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "body", "cause"),
    [
        ("revoke_access", {"user": "sam.created-over-api@example.com"}, "user_revoked_access"),
        ("enable_enhanced_security", {"user": "sam.created-over-api@example.com"}, "enhanced_security"),
        ("breach", {"client_id": None}, "security_breach"),
        (
            "change_email",
            {"user": "sam.created-over-api@example.com", "email": "sam2@example.com"},
            "email_changed",
        ),
        ("revoke_secret", {"client_id": None}, "secret_revoked"),
    ],
)
def test_revocation_scenarios(
    api: httpx.Client, tenant_doc: dict[str, Any], scenario: str, body: dict[str, Any], cause: str
) -> None:
    tokens = registration_grant(api, tenant_doc).json()
    if "client_id" in body:
        body["client_id"] = tenant_doc["clients"][0]["client_id"]
    answer = api.post(f"{C}/tenants/acme/scenarios/{scenario}", json=body)
    outcome = answer.json()
    assert outcome["scenario"] == scenario and len(outcome["ended"]) >= 2
    assert "Deprecation" not in answer.headers
    assert api.get("/v1/me", headers=bearer(tokens["access_token"])).status_code == 401
    entries = api.get(f"{C}/tenants/acme/journal", params={"path": "/v1/me"}).json()["entries"]
    assert (entries[-1]["token_state"], entries[-1]["token_cause"]) == ("revoked", cause)
    listed = {t["id"]: t for t in api.get(f"{C}/tenants/acme/tokens").json()["tokens"]}
    assert all(listed[i]["cause"] == cause for i in outcome["ended"])


def test_rotate_secret_and_reclaim(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    client_id = tenant_doc["clients"][0]["client_id"]
    rotated = api.post(f"{C}/tenants/acme/scenarios/rotate_secret", json={"client_id": client_id}).json()
    assert partner_token(api, tenant_doc, grant_type="client_credentials").status_code == 401
    ok = api.post(
        "/oauth/token", auth=(client_id, rotated["client_secret"]), data={"grant_type": "client_credentials"}
    )
    assert ok.status_code == 200
    user = tenant_doc["users"][2]
    assert api.post(f"{C}/tenants/acme/scenarios/reclaim", json={"user": user["id"]}).status_code == 200
    assert api.get(f"{C}/tenants/acme").json()["users"][2]["reclaimed"] is True


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("revoke-access", "revoke_access"),
        ("enhanced-security", "enable_enhanced_security"),
        ("change-email", "change_email"),
        ("revoke-secret", "revoke_secret"),
        ("rotate-secret", "rotate_secret"),
    ],
)
def test_the_hyphenated_names_of_before_still_work_deprecated(
    api: httpx.Client, tenant_doc: dict[str, Any], old: str, new: str
) -> None:
    user, client_id = tenant_doc["users"][2], tenant_doc["clients"][0]["client_id"]
    body = {"user": user["id"], "email": "new@example.com", "client_id": client_id}
    wanted = [p.name for p in SCENARIOS[new].params if p.required]
    answer = api.post(f"{C}/tenants/acme/scenarios/{old}", json={name: body[name] for name in wanted})
    assert answer.status_code == 200 and answer.json()["scenario"] == old
    assert answer.headers["Deprecation"] == DEPRECATED_SINCE
    assert answer.headers["Link"] == f'<{new}>; rel="successor-version"'
    operation = api.get(f"{C}/openapi.json").json()["paths"][f"{C}/tenants/{{tenant}}/scenarios/{{scenario}}"]
    (name,) = [p for p in operation["post"]["parameters"] if p["name"] == "scenario"]
    assert name["schema"]["enum"] == list(SCENARIOS)  # only the new names


def test_scenario_errors(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    missing = api.post(f"{C}/tenants/acme/scenarios/teleport", json={})
    assert (
        missing.status_code == 404 and "revoke_access, enable_enhanced_security" in missing.json()["message"]
    )
    assert api.post(f"{C}/tenants/acme/scenarios/reclaim", json={}).json()["message"] == "missing 'user'"
    assert api.post(f"{C}/tenants/acme/scenarios/reclaim", json={"user": "ghost@x.y"}).status_code == 404
    assert api.post(f"{C}/tenants/acme/scenarios/breach", json={"client_id": "ghost"}).status_code == 404
    assert api.post(f"{C}/tenants/acme/scenarios/reclaim", json={"user": True}).status_code == 400


# Faults --------------------------------------------------------------------------------------


def test_fault_fires_once_then_is_exhausted(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    fault = api.post(
        f"{C}/tenants/acme/faults", json={"kind": "server_error", "path": "/oauth/token", "status": 503}
    ).json()
    first = partner_token(api, tenant_doc, grant_type="client_credentials")
    assert (
        first.status_code == 503
        and first.json()["status"] == 503
        and first.json()["error"] == "Service Unavailable"
    )
    assert partner_token(api, tenant_doc, grant_type="client_credentials").status_code == 200
    [listed] = api.get(f"{C}/tenants/acme/faults").json()["faults"]
    assert listed["id"] == fault["id"] and listed["fired"] == 1 and listed["exhausted"] is True
    entries = api.get(f"{C}/tenants/acme/journal", params={"path": "/oauth/token"}).json()["entries"]
    assert (
        entries[1]["fault"] == f"server_error#{fault['id']}" and entries[0]["fault"] is None
    )  # newest first


def test_rate_limited_fault_n_times_scoped_to_a_grant(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    api.post(
        f"{C}/tenants/acme/faults",
        json={"kind": "rate_limited", "grant_type": "client_credentials", "times": 2, "retry_after": 7},
    )
    for _ in range(2):
        limited = partner_token(api, tenant_doc, grant_type="client_credentials")
        assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
        assert limited.headers["x-rate-limited-by"] == "wise-public-api" and limited.content == b""
    assert partner_token(api, tenant_doc, grant_type="client_credentials").status_code == 200


def test_always_faults_and_clear(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    api.post(f"{C}/tenants/acme/faults", json={"kind": "gateway_html", "status": 504, "times": "always"})
    for _ in range(3):
        page = partner_token(api, tenant_doc, grant_type="client_credentials")
        assert page.status_code == 504 and page.headers["content-type"].startswith("text/html")
        assert b"504 Gateway Time-out" in page.content
    assert api.delete(f"{C}/tenants/acme/faults").status_code == 204
    assert partner_token(api, tenant_doc, grant_type="client_credentials").status_code == 200


def test_malformed_json_and_connection_reset(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    api.post(f"{C}/tenants/acme/faults", json={"kind": "malformed_json"})
    broken = partner_token(api, tenant_doc, grant_type="client_credentials")
    assert broken.status_code == 200 and broken.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        broken.json()
    api.post(f"{C}/tenants/acme/faults", json={"kind": "connection_reset"})
    with pytest.raises(httpx.RemoteProtocolError):
        partner_token(api, tenant_doc, grant_type="client_credentials")
    [entry] = api.get(f"{C}/tenants/acme/journal", params={"error": "connection_reset"}).json()["entries"]
    assert entry["fault"].startswith("connection_reset#")


def test_invalid_grant_fault_hits_only_the_next_refresh(
    api: httpx.Client, tenant_doc: dict[str, Any]
) -> None:
    tokens = registration_grant(api, tenant_doc).json()
    api.post(f"{C}/tenants/acme/faults", json={"kind": "invalid_grant"})
    assert partner_token(api, tenant_doc, grant_type="client_credentials").status_code == 200
    refused = partner_token(
        api, tenant_doc, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    again = partner_token(api, tenant_doc, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert again.status_code == 200  # a fault answers; it does not kill the token


def test_invalid_token_fault_hits_only_the_next_api_call(
    api: httpx.Client, tenant_doc: dict[str, Any]
) -> None:
    token = tenant_doc["personal_tokens"][0]["token"]
    api.post(f"{C}/tenants/acme/faults", json={"kind": "invalid_token"})
    assert partner_token(api, tenant_doc, grant_type="client_credentials").status_code == 200
    assert api.get("/v1/me", headers=bearer(token)).json()["error"] == "invalid_token"
    assert api.get("/v1/me", headers=bearer(token)).status_code == 200


def test_probability_faults_are_reproducible(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    def run() -> list[int]:
        api.delete(f"{C}/tenants/acme/faults")
        api.post(
            f"{C}/tenants/acme/faults",
            json={
                "kind": "server_error",
                "probability": 0.5,
                "times": None,
                "seed": 42,
                "path": "/oauth/token",
            },
        )
        return [
            partner_token(api, tenant_doc, grant_type="client_credentials").status_code for _ in range(30)
        ]

    first = run()
    assert first == run() and {200, 500} == set(first)


def test_delay_fault_answers_normally(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    api.post(f"{C}/tenants/acme/faults", json={"kind": "delay", "seconds": 0.05})
    assert partner_token(api, tenant_doc, grant_type="client_credentials").status_code == 200
    assert api.get(f"{C}/tenants/acme/journal").json()["entries"][-1]["fault"].startswith("delay#")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"kind": "meteor"},
        {"kind": "delay", "seconds": 1000},
        {"kind": "server_error", "status": 418},
        {"kind": "server_error", "times": 0},
        {"kind": "server_error", "times": "twice"},
        {"kind": "server_error", "probability": 2},
        {"kind": "server_error", "colour": "red"},
    ],
)
def test_fault_errors(api: httpx.Client, tenant_doc: dict[str, Any], body: dict[str, Any]) -> None:
    response = api.post(f"{C}/tenants/acme/faults", json=body)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_remove_one_fault(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    fault = api.post(f"{C}/tenants/acme/faults", json={"kind": "server_error"}).json()
    assert api.delete(f"{C}/tenants/acme/faults/{fault['id']}").status_code == 204
    assert api.delete(f"{C}/tenants/acme/faults/{fault['id']}").status_code == 404
    assert partner_token(api, tenant_doc, grant_type="client_credentials").status_code == 200


# Journal and tokens --------------------------------------------------------------------------


def test_journal_filters_and_clear(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    partner_token(api, tenant_doc, grant_type="client_credentials")
    partner_token(api, tenant_doc, grant_type="password")
    api.get("/v1/me", headers=bearer(tenant_doc["personal_tokens"][0]["token"]))
    journal = api.get(f"{C}/tenants/acme/journal").json()
    assert len(journal["entries"]) == 3 and journal["dropped"] == 0 and journal["capacity"] > 0
    assert [
        e["error"] for e in api.get(f"{C}/tenants/acme/journal", params={"status": 400}).json()["entries"]
    ] == ["unsupported_grant_type"]
    first_seq = journal["entries"][-1]["seq"]  # newest first: the last is the oldest
    assert len(api.get(f"{C}/tenants/acme/journal", params={"since": first_seq}).json()["entries"]) == 2
    assert (
        len(
            api.get(f"{C}/tenants/acme/journal", params={"grant_type": "client_credentials"}).json()[
                "entries"
            ]
        )
        == 1
    )
    assert api.get(f"{C}/tenants/acme/journal", params={"colour": "red"}).status_code == 400
    assert api.get(f"{C}/tenants/acme/journal", params={"status": "x"}).status_code == 400
    assert api.delete(f"{C}/tenants/acme/journal").status_code == 204
    assert api.get(f"{C}/tenants/acme/journal").json()["entries"] == []


def test_tokens_listing_shows_states_without_values(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    value = partner_token(api, tenant_doc, grant_type="client_credentials").json()["access_token"]
    api.post(f"{C}/tenants/acme/clock/advance", json={"seconds": 43201})
    listing = api.get(f"{C}/tenants/acme/tokens").json()["tokens"]
    assert value not in str(listing)
    kinds = {t["kind"]: t for t in listing}
    assert kinds["client_credentials"]["state"] == "expired" and kinds["personal"]["state"] == "valid"
    assert [
        t["kind"] for t in api.get(f"{C}/tenants/acme/tokens", params={"state": "expired"}).json()["tokens"]
    ] == ["client_credentials"]


# Isolation and protection --------------------------------------------------------------------


def test_parallel_tenants_never_see_each_other(sandbox: Sandbox) -> None:
    app = create_app(sandbox)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with httpx.Client(transport=SyncASGITransport(app), base_url="http://t") as api:
                doc = api.post(f"{C}/tenants", json={"id": f"t{n}"}).json()
                client = doc["clients"][0]
                auth = (client["client_id"], client["client_secret"])
                api.post(f"{C}/tenants/t{n}/clock/advance", json={"seconds": n * 1000})
                for _ in range(20):
                    assert (
                        api.post(
                            "/oauth/token", auth=auth, data={"grant_type": "client_credentials"}
                        ).status_code
                        == 200
                    )
                tenant = api.get(f"{C}/tenants/t{n}").json()
                assert tenant["clock"]["offset"] == pytest.approx(n * 1000, abs=5)
                assert [c["client_id"] for c in tenant["clients"]] == [client["client_id"]]
                entries = api.get(f"{C}/tenants/t{n}/journal").json()["entries"]
                assert len(entries) == 20 and {e["client_id"] for e in entries} == {client["client_id"]}
                assert tenant["tokens"]["total"] == 20 + len(doc["personal_tokens"])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_control_plane_is_loopback_only_without_an_admin_token(sandbox: Sandbox) -> None:
    remote = httpx.Client(
        transport=SyncASGITransport(create_app(sandbox), client=("203.0.113.9", 4000)), base_url="http://t"
    )
    refused = remote.get(f"{C}/tenants")
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert remote.get("/v1/me").status_code == 401  # the data plane is open to everyone


def test_admin_token_opens_the_control_plane_to_others(sandbox: Sandbox) -> None:
    app = create_app(sandbox, admin_token="s3cret-admin")
    remote = httpx.Client(transport=SyncASGITransport(app, client=("203.0.113.9", 4000)), base_url="http://t")
    assert remote.get(f"{C}/tenants").status_code == 403
    assert remote.get(f"{C}/tenants", headers=bearer("wrong")).status_code == 403
    assert remote.get(f"{C}/tenants", headers=bearer("s3cret-admin")).status_code == 200
    local = httpx.Client(transport=SyncASGITransport(app), base_url="http://t")
    assert local.get(f"{C}/tenants").status_code == 200


def test_dashboard_pages_render(api: httpx.Client, tenant_doc: dict[str, Any]) -> None:
    tokens = registration_grant(api, tenant_doc).json()
    partner_token(api, tenant_doc, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    api.post(f"{C}/tenants/acme/faults", json={"kind": "server_error", "path": "/v1/*"})
    index = api.get(f"{C}/")
    assert index.status_code == 200 and 'href="/_mockwise/tenants/acme/dashboard"' in index.text
    page = api.get(f"{C}/tenants/acme/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "ended: refreshed" in page.text  # the lineage timeline
    assert "server_error" in page.text and tenant_doc["clients"][0]["client_id"] in page.text
    assert tokens["access_token"] not in page.text and tokens["refresh_token"] not in page.text
    assert api.get(f"{C}/tenants/ghost/dashboard").status_code == 404
    docs = api.get(f"{C}/docs")
    assert docs.status_code == 200 and "/_mockwise/tenants/{tenant}/clock/advance" in docs.text


def test_an_oversized_control_plane_body_is_refused_as_it_streams(api: httpx.Client) -> None:
    """The control plane skips the edge's 64 KiB limit (seeds can be larger) but not every limit:
    a chunked body past 8 MiB gets a 413 before it is all in memory."""

    def chunks() -> Iterator[bytes]:
        yield b'{"seed": {"users": ['
        for _ in range(9 * 16):
            yield b" " * 65536

    answer = api.post(f"{C}/tenants", content=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.json() == {"error": "too_large", "message": "a body is at most 8192 KiB"}
