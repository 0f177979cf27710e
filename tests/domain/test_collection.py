"""Memory stays bounded: expired tokens and codes are collected, the tables that held them shrink,
and the journal keeps a configurable number of entries, saying how many it dropped."""

from __future__ import annotations

import tracemalloc

import pytest

from mockwise._domain.entries import Entry
from mockwise._domain.journal import Journal
from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._domain.settings import ACCESS_TOKEN_LIFETIME, AUTHORIZATION_CODE_LIFETIME
from mockwise._domain.tenant import Tenant
from mockwise._domain.tokens import TokenState
from mockwise._domain.tokenstore import COMPACT_MIN
from tests.helpers import created_user


def expire_everything(tenant: Tenant) -> None:
    tenant.clock.advance(ACCESS_TOKEN_LIFETIME + tenant.settings.oauth.expired_token_memory + 1)


def issue(tenant: Tenant, creds: Credentials, count: int) -> list[str]:
    client = tenant.client(creds.clients[0]["client_id"])
    with tenant.lock:
        return [tenant.tokens.client_credentials(client).access_value for _ in range(count)]


def test_collect_forgets_long_expired_tokens_and_their_routes(
    sandbox: Sandbox, tenant: Tenant, creds: Credentials
) -> None:
    tenant.clock.freeze()
    values = issue(tenant, creds, 50)
    held = len(tenant.store)
    tenant.clock.advance(ACCESS_TOKEN_LIFETIME + 1)
    assert tenant.collect() == 0  # expired, but still within retention: the journal can say "expired"
    assert tenant.tokens.lookup(values[0])[1] is TokenState.EXPIRED
    expire_everything(tenant)
    assert tenant.collect() == 50
    assert len(tenant.store) == held - 50
    assert sandbox.find_token(values[0]) == (None, None)
    assert tenant.tokens.lookup(values[-1])[1] is TokenState.UNKNOWN


def test_how_long_expired_tokens_are_remembered_is_a_tenant_setting(
    tenant: Tenant, creds: Credentials
) -> None:
    tenant.clock.freeze()
    tenant.settings = tenant.settings.apply({"oauth.expired_token_memory": 7 * 86400})
    [value] = issue(tenant, creds, 1)
    tenant.clock.advance(ACCESS_TOKEN_LIFETIME + 3 * 86400)  # past the default day, within the week
    issue(tenant, creds, 1)  # issuing collects a few long-expired tokens as it goes
    assert tenant.collect() == 0 and tenant.tokens.lookup(value)[1] is TokenState.EXPIRED
    tenant.clock.advance(4 * 86400)
    assert tenant.collect() == 1 and tenant.tokens.lookup(value)[1] is TokenState.UNKNOWN


def test_tables_shrink_after_a_mass_expiry(sandbox: Sandbox, tenant: Tenant, creds: Credentials) -> None:
    """A dict keeps the slots of deleted keys: after collection the store's and the sandbox's token
    tables must be copied down, or a burst of tokens would hold its memory for ever."""
    tenant.clock.freeze()
    tracemalloc.start()
    try:
        tenant.collect()
        before = tracemalloc.get_traced_memory()[0]
        issue(tenant, creds, 4 * COMPACT_MIN)
        peak = tracemalloc.get_traced_memory()[0]
        expire_everything(tenant)
        assert tenant.collect() == 4 * COMPACT_MIN
        sandbox.flush()  # (a state store lets go of what it was to write)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert peak - before > 4 * COMPACT_MIN * 300  # the tokens were really held...
    assert after - before < (peak - before) / 20  # ...and their memory, tables included, came back


def test_tokens_are_collected_a_few_at_a_time_as_new_ones_are_issued(
    tenant: Tenant, creds: Credentials
) -> None:
    tenant.clock.freeze()
    issue(tenant, creds, 10)
    held = len(tenant.store)
    expire_everything(tenant)
    issue(tenant, creds, 5)  # each issue collects up to two long-expired tokens
    assert len(tenant.store) == held + 5 - 10


def test_a_collected_token_leaves_its_link_history(tenant: Tenant, creds: Credentials) -> None:
    tenant.clock.freeze()
    user = created_user(creds)
    client = tenant.client(creds.clients[0]["client_id"])
    with tenant.lock:
        issued = tenant.tokens.registration_code(client, user["email"], user["registration_code"])
        assert issued.refresh_value is not None
        refreshed = [tenant.tokens.refresh(client, issued.refresh_value) for _ in range(3)]
    link = issued.access.link
    assert link is not None and len(link.history) == 5  # the refresh token and four access tokens
    expire_everything(tenant)
    tenant.collect()
    assert list(link.history.values()) == [issued.refresh]  # the refresh token lives ~20 years
    assert tenant.tokens.lookup(refreshed[-1].access_value)[1] is TokenState.UNKNOWN


def test_collect_forgets_long_expired_codes(tenant: Tenant, creds: Credentials) -> None:
    tenant.clock.freeze()
    client = creds.clients[0]
    code = tenant.issue_code(client["client_id"], client["redirect_uris"][0], "alex.morgan@example.com")
    assert len(tenant.tokens.codes) == 1
    tenant.clock.advance(AUTHORIZATION_CODE_LIFETIME + tenant.settings.oauth.expired_token_memory + 1)
    tenant.collect()
    assert tenant.tokens.codes == {}
    assert code  # the value itself was never kept


def test_codes_are_scanned_for_expiry_only_when_the_table_doubles(tenant: Tenant, creds: Credentials) -> None:
    """Issuing a code must not scan every code each time (it used to, past 1,024 codes)."""
    tenant.clock.freeze()
    client = creds.clients[0]
    args = (client["client_id"], client["redirect_uris"][0], "alex.morgan@example.com")
    scans = 0

    class Counting(dict):  # type: ignore[type-arg]
        def items(self):  # type: ignore[no-untyped-def, override]
            nonlocal scans
            scans += 1
            return super().items()

    tenant.tokens.codes = Counting(tenant.tokens.codes)
    for _ in range(3000):
        tenant.issue_code(*args)
    assert isinstance(tenant.tokens.codes, Counting)  # nothing expired: the table was never copied
    assert scans == 2  # at 1,024 and 2,048 codes (nothing had expired), not 2,000 times


def test_journal_capacity_is_per_tenant(sandbox: Sandbox) -> None:
    small, _ = sandbox.create_tenant(journal_capacity=3)
    default, _ = sandbox.create_tenant()
    assert small.journal.capacity == 3
    assert default.journal.capacity == 10_000


def test_a_full_journal_drops_the_oldest_and_counts_them() -> None:
    journal = Journal(capacity=3)
    for n in range(5):
        journal.record(Entry(path=f"/{n}"))
    assert [e.path for e in journal] == ["/2", "/3", "/4"]
    assert [e.seq for e in journal] == [3, 4, 5]  # sequence numbers keep counting: the gap shows
    assert journal.dropped == 2
    with pytest.raises(AssertionError, match="2 older entries were dropped"):
        journal.assert_request_made(path="/0")


def test_resizing_a_journal_keeps_the_latest_entries() -> None:
    journal = Journal(capacity=10)
    for n in range(6):
        journal.record(Entry(path=f"/{n}"))
    journal.resize(2)
    assert [e.path for e in journal] == ["/4", "/5"] and journal.dropped == 4
    journal.resize(5)
    journal.record(Entry(path="/6"))
    assert [e.path for e in journal] == ["/4", "/5", "/6"] and journal.capacity == 5


def test_a_journal_of_capacity_zero_keeps_nothing_but_counts() -> None:
    journal = Journal(capacity=0)
    journal.record(Entry())
    assert len(journal) == 0 and journal.dropped == 1


@pytest.mark.parametrize("capacity", [-1, 1.5, True, "10"])
def test_a_journal_capacity_is_a_whole_number(capacity: object) -> None:
    with pytest.raises(ValueError, match="whole number"):
        Journal(capacity=capacity)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="whole number"):
        Journal().resize(capacity)  # type: ignore[arg-type]
