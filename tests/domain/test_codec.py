"""State as data (`mockwise._domain.codec`): a record and back, every field's type checked on the
way in, and a refusal that names the part and the field in one line."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockwise._domain.codec import RecordError, compact_json, from_data, to_data
from mockwise._domain.directory import DirectoryState
from mockwise._domain.linking import Attempts, LinkingState
from mockwise._domain.sandbox import Sandbox
from mockwise._domain.tenant import Tenant
from tests.linking import ALEX


def test_every_part_of_a_tenant_is_json_and_comes_back_the_same(tenant: Tenant) -> None:
    tenant.linking.send_authorization_email(next(iter(tenant.directory.clients.values())), tenant.user(ALEX))
    snapshot = tenant.snapshot()
    text = json.dumps(snapshot, allow_nan=False)
    again, _ = Sandbox().create_tenant("again", seed=False)
    again.restore(json.loads(text))
    assert again.snapshot() == snapshot


def directory_with(**user: Any) -> dict[str, Any]:
    return {
        "users": [
            {"id": 1, "email": "a@example.com", "signup_email": "a@example.com", "password_digest": None}
            | {"created_at": 0.0}
            | user
        ]
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (directory_with(id="1"), "directory.users[0].id: expected a whole number, got str"),
        (directory_with(active=1), "directory.users[0].active: expected a boolean, got int"),
        (directory_with(date_of_birth="1990-13-01"), "directory.users[0].date_of_birth: expected a date"),
        (directory_with(password_digest="zz"), "directory.users[0].password_digest: expected hex bytes"),
        (directory_with(admin=True), "directory.users[0]: User has no field 'admin'"),
        ({"users": [{"id": 1}]}, "directory.users[0]: User field 'created_at' is missing"),
        ({"users": {}}, "directory.users: expected a list, got dict"),
        ([], "directory: expected a DirectoryState (an object), got list"),
    ],
)
def test_a_record_of_the_wrong_shape_is_one_line_naming_the_field(data: Any, message: str) -> None:
    with pytest.raises(RecordError) as refused:
        from_data(DirectoryState, data, "directory")
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_keys_and_nested_records_are_named_too() -> None:
    state = to_data(LinkingState(attempts={100001: Attempts(failures=2)}))
    assert state["attempts"] == {"100001": {"failures": 2, "locked_until": None, "last_failed_at": 0.0}}
    assert from_data(LinkingState, state, "linking").attempts == {100001: Attempts(failures=2)}
    state["attempts"] = {"alex": {"failures": 2}}
    with pytest.raises(RecordError, match=r"^linking\.attempts\['alex'\]: key 'alex' is not a whole number$"):
        from_data(LinkingState, state, "linking")
    state["attempts"] = {"7": {"failures": "2"}}
    with pytest.raises(RecordError, match=r"^linking\.attempts\['7'\]\.failures: expected a whole number"):
        from_data(LinkingState, state, "linking")


def test_dates_bytes_enums_and_tuples_are_plain() -> None:
    assert to_data({"born": date(1990, 1, 2), "digest": b"\x01\xff", "names": ("a", "b")}) == {
        "born": "1990-01-02",
        "digest": "01ff",
        "names": ["a", "b"],
    }


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner) | st.tuples(inner, inner),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_compact_json_writes_what_json_dumps_writes(value: Any) -> None:
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert compact_json()(value) == expected
    assert compact_json(check_circular=False)(value) == expected


def test_compact_json_refuses_as_json_dumps_does_and_is_whole_again_after() -> None:
    dumps = compact_json()
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps(cycle)
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps({"a": [{"b": object()}]})
    assert dumps({"a": [{"b": 1}]}) == '{"a":[{"b":1}]}'  # no marker left behind by the failures
