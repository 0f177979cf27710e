"""The deprecated flat setting names (mockwise/_http/control/fidelity.py): `/fidelity` and the
`fidelity` object of a new tenant still work for one release, as a view of the same settings, and
say they are deprecated. The only test that speaks the flat names."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from mockwise._domain.settings import KEYS, Settings
from mockwise._http.control.common import DEPRECATED_SINCE
from mockwise._http.control.fidelity import LEGACY

C = "/_mockwise"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def acme(api: httpx.Client) -> str:
    assert api.post(f"{C}/tenants", json={"id": "acme"}).status_code == 201
    return f"{C}/tenants/acme"


def test_every_flat_name_names_a_setting_and_no_two_the_same() -> None:
    assert set(LEGACY.values()) <= KEYS
    assert len(set(LEGACY.values())) == len(LEGACY)


def test_get_and_patch_by_flat_name_are_a_view_of_the_settings(api: httpx.Client, acme: str) -> None:
    shown = api.get(f"{acme}/fidelity")
    assert shown.headers["Deprecation"] == DEPRECATED_SINCE
    assert shown.headers["Link"] == '<settings>; rel="successor-version"'
    assert shown.json()["registration_code_failure_status"]["value"] == 401
    assert "guides" in shown.json()["registration_code_failure_status"]["doc"]
    patched = api.patch(f"{acme}/fidelity", json={"refresh_token_rotation": True, "sca_pin": "9876"})
    assert patched.status_code == 200 and patched.headers["Deprecation"] == DEPRECATED_SINCE
    assert patched.json()["refresh_token_rotation"] is True and patched.json()["sca_pin"] == "9876"
    dotted = api.get(f"{acme}/settings").json()
    assert dotted["oauth.refresh_token_rotation"]["value"] is True and dotted["sca.pin"]["value"] == "9876"
    api.patch(f"{acme}/settings", json={"rate_limits.scope": "tenant"})
    assert api.get(f"{acme}/fidelity").json()["rate_limit_scope"]["value"] == "tenant"


def test_a_new_tenant_takes_flat_names_then_dotted_keys(api: httpx.Client) -> None:
    made = api.post(
        f"{C}/tenants",
        json={
            "id": "both",
            "fidelity": {"token_response_fields": "legacy", "mtls_refusal_status": 403},
            "settings": {"mtls.refusal_status": 401},  # dotted keys win
        },
    )
    assert made.status_code == 201
    settings = api.get(f"{C}/tenants/both/settings").json()
    assert settings["oauth.token_response_fields"]["value"] == "legacy"
    assert settings["mtls.refusal_status"]["value"] == 401


def test_a_flat_name_is_checked_even_when_a_dotted_key_names_it_too(api: httpx.Client) -> None:
    answer = api.post(
        f"{C}/tenants",
        json={
            "fidelity": {"token_response_fields": {}},
            "settings": {"oauth.token_response_fields": "legacy"},
        },
    )
    assert answer.status_code == 400 and "token_response_fields" in answer.json()["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"oauth.refresh_token_rotation": True}, "unknown fidelity setting(s): oauth.refresh_token_rotation"),
        ({"refresh_token_rotation": "yes"}, "must be bool"),
        ({"client_credentials_on_user_endpoints": 404}, "must be one of 401, 403"),
        ({"login_session_lifetime": -60}, "must not be negative"),
    ],
)
def test_refusals_change_nothing(api: httpx.Client, acme: str, body: dict[str, object], message: str) -> None:
    refused = api.patch(f"{acme}/fidelity", json=body)
    assert refused.status_code == 400 and message in refused.json()["message"]
    assert api.post(f"{C}/tenants", json={"fidelity": body}).status_code == 400
    shown = api.get(f"{acme}/settings").json()
    assert Settings().apply({key: row["value"] for key, row in shown.items()}) == Settings()  # unchanged


@pytest.mark.parametrize("flat", sorted(LEGACY))
def test_elsewhere_a_flat_name_is_an_unknown_setting_that_names_its_dotted_key(flat: str) -> None:
    """`Settings.apply` (and so `--set`, seed files, `configure`, `/settings`) takes dotted keys only."""
    with pytest.raises(ValueError, match=rf"unknown setting\(s\): {flat} \(did you mean {LEGACY[flat]}\?\)"):
        Settings().apply({flat: Settings().get(LEGACY[flat])})


def test_openapi_marks_the_flat_names_deprecated(api: httpx.Client) -> None:
    paths = api.get(f"{C}/openapi.json").json()["paths"]
    fidelity = next(ops for path, ops in paths.items() if path.endswith("/fidelity"))
    assert fidelity["get"]["deprecated"] is True and fidelity["patch"]["deprecated"] is True


def test_the_flat_names_live_only_in_the_deprecated_alias_and_this_test() -> None:
    """Everything else speaks dotted keys: the flat names must not spread again. (The contract
    suites, `contracts/` and `tests/contracts/`, are converted on their own.)"""
    flat = "|".join(sorted(LEGACY, key=len, reverse=True))
    pattern = re.compile(rf"(?<![.\w])({flat})(?![\w])(?!\s*:\s*\w)")  # not `section.name`, not a field
    allowed = {
        ROOT / "mockwise/_http/control/fidelity.py",
        ROOT / "mockwise/_store/pickles.py",  # the field names schema 1's pickles hold, for its migration
        Path(__file__).resolve(),
    }
    found = []
    for folder in ("mockwise", "tests", "docs", "examples"):
        for path in (ROOT / folder).rglob("*"):
            if "contracts" in path.relative_to(ROOT).parts or path.resolve() in allowed:
                continue
            if path.suffix in {".py", ".md", ".html", ".js", ".json"}:
                for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                    if pattern.search(line):
                        found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
