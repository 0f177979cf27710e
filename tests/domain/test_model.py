"""Secrets at rest: `Secrets.digest` is HMAC-SHA256 under the sandbox's key, for any key and any
text (a state store written before keeps matching), and `matches` compares with it."""

from __future__ import annotations

import hmac

from hypothesis import given
from hypothesis import strategies as st

from mockwise._domain.model import Secrets


@given(key=st.binary(min_size=1, max_size=200), value=st.text())
def test_digest_is_hmac_sha256_under_the_key(key: bytes, value: str) -> None:
    expected = hmac.digest(key, value.encode("utf-8", "surrogatepass"), "sha256")
    secrets = Secrets(key)
    assert secrets.digest(value) == expected
    assert secrets.digest(value) == expected  # the keyed states are copied, never used up


@given(value=st.text(), other=st.text())
def test_matches_only_the_value_digested(value: str, other: str) -> None:
    secrets = Secrets()
    digest = secrets.digest(value)
    assert secrets.matches(value, digest)
    assert secrets.matches(other, digest) == (other == value)
    assert not secrets.matches(value, None)
    assert not Secrets().matches(value, digest)  # another sandbox's key
