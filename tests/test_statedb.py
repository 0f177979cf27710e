"""The SQLite state store (`mockwise._store`) under the Python API, with no server: everything a
tenant holds comes back after a crash (no clean close), tokens come back one at a time as they are
presented, expired ones are collected from the database too, and a bad state file gets one line
saying what to do."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import pickle
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from mockwise._domain.entries import Entry
from mockwise._domain.errors import ValidationError
from mockwise._domain.faults import FaultKind
from mockwise._domain.jose import KeyScope
from mockwise._domain.linking import StepRefused
from mockwise._domain.sandbox import Sandbox
from mockwise._domain.sca import ChallengeType, ScaAction
from mockwise._domain.tenant import Tenant
from mockwise._domain.tokens import EndReason, TokenState, jwe_like_token, row_of, uuid_token
from mockwise._domain.tokenstore import RELEASE_BATCH
from mockwise._http.app import create_app
from mockwise._store import SCHEMA_VERSION, SqliteStore, StateError, StateLock, forget
from mockwise._store.rows import _ENTRIES, ENTRY_FIELDS, _entry_row, entries_from_text, entries_text
from mockwise._transport.inprocess import SyncASGITransport
from tests.helpers import bearer, created_user, partner, registration_tokens, token
from tests.jose_helpers import key_upload, new_key
from tests.linking import ALEX, LENA, PASSWORD, authorize_url, query_of
from tests.statecheck import differences, state_of

FIXTURES = Path(__file__).parent / "fixtures"


def opened(path: Path) -> Sandbox:
    return Sandbox(store=SqliteStore(path))


def crashed(sandbox: Sandbox) -> None:
    """What a server leaves when it is killed: everything the group commits wrote, no clean close
    (no full save of the parts, no final checkpoint)."""
    sandbox.flush()
    assert isinstance(sandbox.store, SqliteStore)
    sandbox.store.close_quietly()


def busy(sandbox: Sandbox) -> dict[str, Any]:
    """A tenant with a bit of everything, made over HTTP and the Python API; answers token values."""
    tenant, creds = sandbox.create_tenant("busy")
    tenant.configure({"oauth.refresh_token_rotation": True})
    tenant.journal.resize(500)
    values: dict[str, Any] = {}
    with httpx.Client(transport=SyncASGITransport(create_app(sandbox)), base_url="https://api") as api:
        client_id, _ = partner(creds)
        cc = token(api, creds, grant_type="client_credentials")["access_token"]
        values["cc"] = cc
        # a user created over API, its tokens, two refreshes (rotation)
        made = api.post(
            "/v1/user/signup/registration_code",
            headers=bearer(cc),
            json={"email": "new.one@example.com", "registrationCode": "c0de" * 8},
        )
        assert made.status_code == 200, made.text
        first = token(
            api,
            creds,
            grant_type="registration_code",
            client_id=client_id,
            email="new.one@example.com",
            registration_code="c0de" * 8,
        )
        second = token(api, creds, grant_type="refresh_token", refresh_token=first["refresh_token"])
        third = token(api, creds, grant_type="refresh_token", refresh_token=second["refresh_token"])
        values["superseded"] = first["access_token"]
        values["live_access"], values["live_refresh"] = third["access_token"], third["refresh_token"]
        # the authorize page: a linked user, a used code, an unused one, a reused one
        redirect = tenant.link(authorize_url(creds, state="s"), email=ALEX, password=PASSWORD)
        linked = token(
            api,
            creds,
            grant_type="authorization_code",
            code=query_of(redirect)["code"],
            redirect_uri=creds.clients[0]["redirect_uris"][0],
        )
        values["linked_refresh"] = linked["refresh_token"]
        tenant.link(authorize_url(creds), email=LENA, password=PASSWORD)  # a code never exchanged
        with pytest.raises(StepRefused):
            tenant.link(authorize_url(creds), email=LENA, password=PASSWORD, otp="000000")  # 2FA failure
        # a fault fired once of twice, another armed
        tenant.faults.add(FaultKind.SERVER_ERROR, path="/v1/me", times=2)
        tenant.faults.add(FaultKind.DELAY, path="/v1/profiles", seconds=0.0)
        assert api.get("/v1/me", headers=bearer(cc)).status_code == 500
        # JOSE: a partner key uploaded, Wise's keys rotated and made
        uploaded = api.post(
            "/v1/auth/jose/request/public-keys",
            headers=bearer(cc),
            json=key_upload(new_key("ES256"), "ES256"),
        )
        assert uploaded.status_code == 201, uploaded.text
    # The Python API for the rest
    runtime = tenant.add_client("runtime-client", "runtime-secret", redirect_uris=["https://app.test/cb"])
    person = tenant.add_user("runtime@example.com", "runtime-Passw0rd", date_of_birth="1990-01-02")
    tenant.add_profile(person, "business", business_name="Runtime Ltd")
    values["personal_chosen"] = tenant.add_personal_token(person, "runtime-personal-token-value")
    values["personal_minted"] = tenant.add_personal_token(person)
    values["rotated_secret"] = tenant.rotate_secret(runtime.client_id)
    tenant.revoke_access(LENA)
    tenant.sca.require(person, True)
    tenant.sca.new_key(person)
    ott, _ = tenant.sca.issue(person, tenant.directory.profiles_of(person)[0].id, ScaAction.TRANSFER__FUND)
    with pytest.raises(ValidationError):
        tenant.sca.verify(person, ott, ChallengeType.PIN, "0000")  # a failure counted
    tenant.certificates.issue(runtime.client_id, name="issued at runtime")
    revoked = tenant.certificates.issue(runtime.client_id, name="revoked at runtime")
    tenant.certificates.revoke(revoked.fingerprint)
    tenant.jose.sandbox_key(KeyScope.PAYLOAD_SIGNING, "ES256")
    tenant.jose.rotate()
    tenant.jose.sandbox_key(KeyScope.PAYLOAD_SIGNING, "ES256")
    sam = created_user_of(tenant)
    values["claim"] = tenant.linking.issue_claim_code(
        sam, sam.created_by_client, "2f6c9b1e-4a7d-4e3b-9c2f-8d1a6e5b7c30"
    )
    tenant.linking.send_authorization_email(tenant.client(client_id), tenant.user(ALEX))
    tenant.clock.advance(321)
    return values


def created_user_of(tenant: Tenant) -> Any:
    return next(u for u in tenant.directory.users.values() if u.created_by_client is not None)


def test_everything_a_tenant_holds_comes_back_after_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    sandbox = opened(path)
    busy(sandbox)
    frozen, _ = sandbox.create_tenant("frozen", seed=False)
    frozen.clock.freeze()
    before = {tid: state_of(t) for tid, t in sandbox.tenants.items()}
    seeded = {tid: t._seeded for tid, t in sandbox.tenants.items()}
    crashed(sandbox)

    again = opened(path)
    assert again.restored is not None and again.restored.tenants == 2
    assert sorted(again.tenants) == ["busy", "frozen"]
    for tid, tenant in again.tenants.items():
        assert differences(before[tid], state_of(tenant)) == [], tid
        assert tenant._seeded == seeded[tid]
    assert again.tenant("frozen").clock.frozen


def test_tokens_answer_as_before_and_stay_on_disk_until_presented(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    sandbox = opened(path)
    values = busy(sandbox)
    crashed(sandbox)

    again = opened(path)
    tenant = again.tenant("busy")
    # nothing fetched at start-up but the lineage of the code exchanged (codes come back whole)
    assert tenant.store.held == 2
    now = tenant.clock.now()
    states = {name: again.find_token(value)[1] for name, value in values.items() if name != "rotated_secret"}
    assert {name: t.state(now) if t is not None else None for name, t in states.items()} == {
        "cc": TokenState.VALID,
        "superseded": TokenState.SUPERSEDED,
        "live_access": TokenState.VALID,
        "live_refresh": TokenState.VALID,
        "linked_refresh": TokenState.VALID,
        "personal_chosen": TokenState.VALID,  # found by its hash: its value carries no row
        "personal_minted": TokenState.VALID,
        "claim": None,  # not a token
    }
    assert again.find_token(uuid_token())[0] is None and again.find_token("not-a-token")[0] is None
    # a refresh on a token fetched from disk: its lineage came with it
    client = tenant.client("mockwise-partner-busy")
    old_access = states["live_access"]
    assert old_access is not None
    issued = tenant.grant(client, "refresh_token", {"refresh_token": values["live_refresh"]})
    assert issued.access.link is old_access.link and old_access.state(now) is TokenState.SUPERSEDED
    assert issued.refresh is not None and issued.refresh.state(now) is TokenState.VALID


def test_a_written_token_outside_a_lineage_leaves_memory_and_answers_as_before(tmp_path: Path) -> None:
    sandbox = opened(tmp_path / "state.db")
    tenant, creds = sandbox.create_tenant("t")
    client = tenant.client(creds.clients[0]["client_id"])
    before, now = tenant.store.held, tenant.clock.now()
    issued = [tenant.grant(client, "client_credentials", {}) for _ in range(RELEASE_BATCH)]
    assert tenant.store.held == before + RELEASE_BATCH  # not written yet: memory is all that has them
    sandbox.flush()
    kept, values = issued[7].access, [i.access_value for i in issued]
    del issued
    tenant.grant(client, "client_credentials", {})  # the next issue lets the written ones go
    assert tenant.store.held == before + 1
    # found from the store as they were; one still held here as that very object (in use again)
    assert sandbox.find_token(values[7]) == (tenant, kept)
    other = sandbox.find_token(values[0])[1]
    assert other is not None and other is not kept and other.state(now) is TokenState.VALID
    assert tenant.store.held == before + 3
    # a revocation reaches those only the store holds
    with tenant.lock:
        ended = tenant.tokens.revoke(EndReason.SECURITY_BREACH, lambda t: True, client_id=client.client_id)
    assert len(ended) == RELEASE_BATCH + 1 and kept in ended and other in ended
    assert all(any(t is e for e in ended) for t in (sandbox.find_token(v)[1] for v in values))
    del ended, other
    crashed(sandbox)
    again = opened(tmp_path / "state.db")
    assert {again.find_token(v)[1].state(now) for v in values} == {TokenState.REVOKED}  # type: ignore[union-attr]


def test_tokens_issued_with_nothing_written_cost_the_release_amortised_constant_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issued in process with no flush, every token waits for the store: each try to release them
    walks all that wait, so the tries must thin out as they pile up (they were once per token:
    a million tokens took quarter of an hour)."""
    sandbox = opened(tmp_path / "state.db")
    tenant, creds = sandbox.create_tenant("t")
    client = tenant.client(creds.clients[0]["client_id"])
    ledger = type(tenant.store._ledger)
    walked: list[int] = []
    unwritten = ledger.unwritten

    def counted(self: Any) -> set[str] | None:
        walked.append(len(tenant.store._fresh))
        return unwritten(self)

    monkeypatch.setattr(ledger, "unwritten", counted)
    count = 64 * RELEASE_BATCH
    for _ in range(count):
        tenant.grant(client, "client_credentials", {})
    assert sum(walked) <= 4 * count  # each waiting token walked a bounded number of times
    sandbox.flush()
    tenant.grant(client, "client_credentials", {})  # written at last: they leave memory
    assert tenant.store.held < RELEASE_BATCH


def test_a_released_token_collected_from_the_store_is_unknown_though_something_holds_it(
    tmp_path: Path,
) -> None:
    sandbox = opened(tmp_path / "state.db")
    tenant, creds = sandbox.create_tenant("t")
    client = tenant.client(creds.clients[0]["client_id"])
    issued = [tenant.grant(client, "client_credentials", {}) for _ in range(RELEASE_BATCH)]
    sandbox.flush()
    tenant.grant(client, "client_credentials", {})  # lets them go from memory; `issued` still holds them
    tenant.clock.advance(43200 + tenant.settings.oauth.expired_token_memory + 1)
    sandbox.flush()
    assert tenant.collect() >= RELEASE_BATCH
    assert tenant.tokens.lookup(issued[0].access_value) == (None, TokenState.UNKNOWN)
    assert sandbox.find_token(issued[0].access_value) == (None, None)


def test_a_minted_token_carries_its_row_and_a_chosen_one_does_not(tmp_path: Path) -> None:
    sandbox = opened(tmp_path / "state.db")
    tenant, _ = sandbox.create_tenant(seed=False)
    user = tenant.add_user("row@example.com", "row-Passw0rd")
    minted = tenant.add_personal_token(user)
    chosen = tenant.add_personal_token(user, "a-value-of-my-own")
    assert row_of(minted) == tenant.store.find(minted).row  # type: ignore[union-attr]
    assert tenant.store.find(chosen).row is None  # type: ignore[union-attr]
    sandbox.flush()
    assert tenant.store.find(chosen).row is not None  # type: ignore[union-attr]
    assert uuid_token(12345) != uuid_token(12345) and row_of(uuid_token(12345)) == 12345


@given(st.integers(min_value=0, max_value=2**40 - 1))
def test_a_token_carries_any_row_and_still_looks_random(row: int) -> None:
    """The row is masked with a hash of the token's other bytes: a UUID and a JWE-like token give it
    back, and no part of the value repeats another (schema 2's tokens began with their own end)."""
    for value in (uuid_token(row), jwe_like_token(row)):
        assert row_of(value) == row
    raw = bytes.fromhex(uuid_token(row).replace("-", ""))
    assert int.from_bytes(raw[:5], "big") ^ int.from_bytes(raw[-5:], "big") != row


any_text = st.text(st.characters(exclude_categories=()), max_size=12)  # lone surrogates too
entries = st.builds(
    Entry,
    seq=st.integers(min_value=0, max_value=2**70),  # past 64 bits: the standard encoder's batch
    at=st.floats(min_value=0, max_value=253_402_300_799),
    wall=st.floats(min_value=0, max_value=253_402_300_799),
    method=any_text,
    path=any_text,
    user_id=st.none() | st.integers(min_value=-(2**70), max_value=2**70),
    client_id=st.none() | any_text,
    headers=st.lists(any_text, max_size=4).map(tuple),
    basic_auth=st.booleans(),
)


@given(st.lists(entries, max_size=4))
def test_journal_rows_read_back_as_written(batch: list[Entry]) -> None:
    """Whatever the entries hold, their row (orjson's text, or the standard encoder's for what orjson
    refuses) reads back as the same entries, and as the standard encoder's text would."""
    text = entries_text(batch)
    assert entries_from_text(text, ENTRY_FIELDS, "row") == batch
    assert json.loads(text) == json.loads(_ENTRIES([_entry_row(e) for e in batch]))


def test_a_reset_after_a_restart_returns_to_the_seeded_tenant(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    sandbox = opened(path)
    values = busy(sandbox)
    sandbox.close()

    again = opened(path)
    tenant = again.tenant("busy")
    tenant.reset()
    assert again.find_token(values["cc"])[1] is None
    assert len(tenant.directory.users) == 3 and len(tenant.store) == 2  # the seed's personal tokens
    again.close()
    third = opened(path)
    assert len(third.tenant("busy").directory.users) == 3 and len(third.tenant("busy").store) == 2
    assert third.find_token(values["cc"])[1] is None


def test_a_deleted_tenant_stays_deleted_and_its_id_can_be_used_again(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    sandbox = opened(path)
    tenant, creds = sandbox.create_tenant("gone")
    issued = tenant.grant(tenant.client(partner(creds)[0]), "client_credentials", {})
    sandbox.flush()
    sandbox.delete_tenant("gone")
    sandbox.create_tenant("gone", seed=False)
    crashed(sandbox)
    again = opened(path)
    assert again.tenant("gone").directory.users == {}
    assert again.find_token(issued.access_value) == (None, None)


def test_expired_tokens_are_collected_from_the_database_and_it_does_not_grow(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    sandbox = opened(path)
    tenant, _ = sandbox.create_tenant(seed=False)
    client = tenant.client(tenant.add_client("c", "s").client_id)
    retention = tenant.settings.oauth.expired_token_memory

    def wave() -> int:
        for _ in range(3000):
            tenant.grant(client, "client_credentials", {})
        sandbox.flush()
        tenant.clock.advance(43200 + retention + 1)
        return tenant.collect()

    assert wave() == 3000
    assert count(path, "tokens") == 0
    size = checkpointed_size(path)
    for _ in range(3):
        assert wave() == 3000
    assert checkpointed_size(path) <= size * 1.1  # freed pages are used again
    # tokens that were never in this process's memory go too
    for _ in range(100):
        tenant.grant(client, "client_credentials", {})
    crashed(sandbox)
    again = opened(path)
    later = again.tenants[tenant.id]
    later.clock.advance(43200 + retention + 1)
    assert later.store.held == 0 and later.collect() == 100 and count(path, "tokens") == 0


def test_the_journal_keeps_its_newest_entries_and_keeps_counting(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    sandbox = opened(path)
    tenant, creds = sandbox.create_tenant(journal_capacity=40)
    with httpx.Client(transport=SyncASGITransport(create_app(sandbox)), base_url="https://api") as api:
        for _ in range(700):
            api.get("/v1/me", headers=bearer("unknown"))  # unrouted: not this tenant's
            api.post("/oauth/token", auth=partner(creds), data={"grant_type": "nope"})
    last = list(tenant.journal)[-1].seq
    crashed(sandbox)
    again = opened(path).tenants[tenant.id]
    entries = list(again.journal)
    assert len(entries) == 40 and entries[-1].seq == last and entries[0].seq == last - 39
    assert entries[-1].error == "unsupported_grant_type"
    with sqlite3.connect(path) as db:  # old entries are cut, a few hundred at a time
        stored = db.execute("SELECT sum(last - first + 1) FROM journal").fetchone()[0]
    assert 40 <= stored <= 40 + 300 < 1400
    assert again.journal.next_seq == last + 1


def test_a_response_waits_for_the_group_commit_and_a_read_does_not(tmp_path: Path) -> None:
    sandbox = opened(tmp_path / "state.db")
    tenant, creds = sandbox.create_tenant()
    store = sandbox.store
    sandbox.flush()

    async def scenario() -> None:
        assert not store.unsettled
        registration_tokens_via_python(tenant, creds)
        assert store.unsettled
        waiting = [store.settle() for _ in range(3)]
        assert waiting[0] is waiting[1] is waiting[2]  # one write for the turn
        await asyncio.gather(*waiting)
        assert not store.unsettled

    asyncio.run(scenario())


def test_a_response_waits_on_its_own_loop_whichever_ran_before(tmp_path: Path) -> None:
    """`settle` takes the loop once per thread and loop: a new loop on the same thread, or one on
    another thread, gets a write of its own."""
    sandbox = opened(tmp_path / "state.db")
    tenant, creds = sandbox.create_tenant()
    store = sandbox.store
    client = tenant.client(partner(creds)[0])

    async def one() -> asyncio.AbstractEventLoop:
        tenant.grant(client, "client_credentials", {})
        assert store.unsettled
        waiter = store.settle()
        assert waiter.get_loop() is asyncio.get_running_loop()
        await waiter
        assert not store.unsettled
        return asyncio.get_running_loop()

    loops = [asyncio.run(one()), asyncio.run(one())]
    with concurrent.futures.ThreadPoolExecutor(1) as other:
        loops.append(other.submit(asyncio.run, one()).result())
    assert loops[0] is not loops[1] is not loops[2]


def registration_tokens_via_python(tenant: Tenant, creds: Any) -> None:
    user = created_user(creds)
    tenant.grant(
        tenant.client(partner(creds)[0]),
        "registration_code",
        {"email": user["email"], "registration_code": user["registration_code"]},
    )


def test_a_failed_write_keeps_its_changes_for_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    sandbox = opened(path)
    tenant, creds = sandbox.create_tenant()
    sandbox.flush()
    issued = tenant.grant(tenant.client(partner(creds)[0]), "client_credentials", {})
    tenant.clock.advance(5)
    store = sandbox.store
    assert isinstance(store, SqliteStore)

    def broken(*args: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as patched:
        patched.setattr(store, "_commit", broken)
        with pytest.raises(sqlite3.OperationalError):
            sandbox.flush()
    assert store.unsettled
    crashed(sandbox)
    again = opened(path).tenants[tenant.id]
    assert again.store.find(issued.access_value) is not None and round(again.clock.offset) == 5


# Bad state: one line, what to do --------------------------------------------------------------------


def test_a_state_file_from_a_newer_mockwise_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    opened(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StateError) as refused:
        opened(path)
    message = str(refused.value)
    assert (
        "newer mockwise" in message and str(path) in message and "--fresh" in message and "\n" not in message
    )


@pytest.mark.parametrize(
    "content", [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 4000]
)
def test_a_corrupt_state_file_gets_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(content)
    with pytest.raises(StateError) as refused:
        opened(path)
    message = str(refused.value)
    assert str(path) in message and "--fresh" in message and "\n" not in message


def test_a_locked_state_file_gets_one_line(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    opened(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StateError) as refused:
            opened(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    message = str(refused.value)
    assert "locked" in message and str(path) in message and "--fresh" in message


def test_state_this_mockwise_cannot_read_gets_one_line(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    sandbox = opened(path)
    sandbox.create_tenant()
    sandbox.close()
    with sqlite3.connect(path) as db:  # a pickle naming something that is not mockwise's state
        db.execute("UPDATE parts SET data = ? WHERE name = 'faults'", (pickle.dumps(shutil.rmtree),))
    with pytest.raises(StateError) as refused:
        opened(path)
    assert "cannot read" in str(refused.value) and "--fresh" in str(refused.value)


def test_one_server_per_state_directory(tmp_path: Path) -> None:
    lock = StateLock(tmp_path).acquire()
    try:
        with pytest.raises(StateError, match=r"in use by another mockwise serve \(pid \d+\)"):
            StateLock(tmp_path).acquire()
        with pytest.raises(StateError):
            forget(tmp_path)
    finally:
        lock.release()
    opened(tmp_path / "state.db").close()
    assert forget(tmp_path) and not (tmp_path / "state.db").exists() and not forget(tmp_path)


# State databases of each schema, kept as fixtures ---------------------------------------------------


def at_written_time(path: Path) -> Any:
    """The fixture's tokens were issued when it was written: check them at that time (its newest
    issue time, read from the file), never at today's, or the test breaks once they expire."""
    with sqlite3.connect(path) as db:
        written = float(db.execute("SELECT max(issued_at) FROM tokens").fetchone()[0])
    return time_machine.travel(written + 60, tick=False)


def still_opens(tmp_path: Path, schema: int) -> None:
    """Each fixture was written by its schema (`make_fixture`). When the schema changes, this keeps
    proving that a state directory of an older mockwise is migrated, not lost."""
    path = tmp_path / "state.db"
    shutil.copy(FIXTURES / f"state-v{schema}.db", path)
    values = json.loads((FIXTURES / f"state-v{schema}.json").read_text())
    with at_written_time(path):
        v1_checks(opened(path), values)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        parts = (
            db.execute("SELECT data FROM parts").fetchall()
            + db.execute("SELECT entries FROM journal").fetchall()
        )
    assert all(isinstance(text, str) and json.loads(text) is not None for (text,) in parts)  # data, no pickle


def test_a_state_database_of_schema_1_still_opens(tmp_path: Path) -> None:
    still_opens(tmp_path, 1)


def test_a_state_database_of_schema_2_still_opens(tmp_path: Path) -> None:
    still_opens(tmp_path, 2)


def test_a_state_database_of_schema_3_still_opens(tmp_path: Path) -> None:
    still_opens(tmp_path, 3)


@pytest.mark.parametrize("schema", [2, 3])
def test_journal_instants_read_back_as_each_schema_wrote_them(tmp_path: Path, schema: int) -> None:
    """Schema 2 wrote a journal entry's instants as floats (seconds); schema 3 writes one that is a
    whole number of microseconds as that integer (`wall` and `done` always are). Each reads back as
    the very float that was recorded."""
    path = tmp_path / "state.db"
    shutil.copy(FIXTURES / f"state-v{schema}.db", path)
    with sqlite3.connect(path) as db:
        rows = [json.loads(text) for (text,) in db.execute("SELECT entries FROM journal ORDER BY first")]
    written = [tuple(entry[1:4]) for row in rows for entry in row]  # at, wall, done
    system = [value for instants in written for value in instants[1:]]
    assert written and all(type(value) is (float if schema == 2 else int) for value in system)
    with at_written_time(path):
        sandbox = opened(path)
        read = [(e.at, e.wall, e.done) for e in sandbox.tenant("default").journal.latest(len(written))][::-1]
        sandbox.close()
    assert read == [tuple(v / 1e6 if type(v) is int else v for v in instants) for instants in written]


def test_every_part_of_a_busy_schema_1_tenant_is_migrated(tmp_path: Path) -> None:
    """`state-v1-busy.db` was written by schema 1's code (the `busy` tenant above, every class its
    pickles held: tokens joined to links, codes, faults, certificates, partner and sandbox keys, SCA
    tokens and keys, claims, mail, the seeded snapshot); its migration keeps each of them."""
    path = tmp_path / "state.db"
    shutil.copy(FIXTURES / "state-v1-busy.db", path)
    kept = json.loads((FIXTURES / "state-v1-busy.json").read_text())
    with at_written_time(path):
        sandbox = opened(path)
        tenant = sandbox.tenant("busy")
        now = tenant.clock.now()
        states = {
            name: (found.state(now).value if (found := sandbox.find_token(value)[1]) is not None else None)
            for name, value in kept["values"].items()
        }
        assert states == {
            "cc": "valid",
            "superseded": "superseded",
            "live_access": "valid",
            "live_refresh": "valid",
            "linked_refresh": "valid",
            "personal_chosen": "valid",
            "personal_minted": "valid",
            "rotated_secret": None,
            "claim": None,
        }
        assert len(tenant.directory.users) == kept["users"]
        assert [f.kind.value for f in tenant.faults] == kept["faults"]
        assert len(tenant.certificates.snapshot()) == kept["certificates"]
        assert (
            len(tenant.jose.snapshot()) == kept["partner_keys"]
            and tenant.jose.version == kept["jose_version"]
        )
        assert len(tenant.linking.mailbox) == kept["mailbox"] and len(tenant.linking.claims) == kept["claims"]
        assert sum(len(tenant.sca.keys(u)) for u in tenant.directory.users) == kept["sca_keys"]
        assert len(tenant.journal) == kept["journal"] and round(tenant.clock.offset) == kept["offset"]
        before = state_of(tenant)
        tenant.reset()  # the seeded snapshot came through too
        assert len(tenant.directory.users) == 3 and len(tenant.store) == 2
        sandbox.close()
        again = opened(path).tenant("busy")
        assert len(again.directory.users) == 3
    assert before["jose_keys"]["version"] == 2


def v1_checks(sandbox: Sandbox, values: dict[str, Any]) -> None:
    tenant = sandbox.tenant("default")
    now = tenant.clock.now()
    for name, value in values["live"].items():
        found = sandbox.find_token(value)[1]
        assert found is not None and found.state(now) is TokenState.VALID, name
    superseded = sandbox.find_token(values["superseded"])[1]
    assert superseded is not None and superseded.state(now) is TokenState.SUPERSEDED
    assert tenant.user("v1.user@example.com").profiles and [f.kind for f in tenant.faults] == [
        FaultKind.RATE_LIMITED
    ]
    assert round(tenant.clock.offset) == 3600 and len(tenant.journal) == values["journal"]
    assert tenant.directory.secrets.matches("v1-secret", tenant.client("v1-client").secret_digest)


def make_fixture(directory: Path = FIXTURES) -> None:  # pragma: no cover - run by hand, once per schema
    """Write `state-v<SCHEMA_VERSION>.db` and the token values it was made with
    (`python -m tests.test_statedb`)."""
    directory.mkdir(exist_ok=True)
    name = f"state-v{SCHEMA_VERSION}"
    for stale in directory.glob(f"{name}.db*"):
        stale.unlink()
    sandbox = opened(directory / f"{name}.db")
    tenant, creds = sandbox.create_tenant("default", fixed=True)
    client = tenant.client(tenant.add_client("v1-client", "v1-secret").client_id)
    user = tenant.add_user("v1.user@example.com", "v1-Passw0rd")
    tenant.add_profile(user)
    with httpx.Client(transport=SyncASGITransport(create_app(sandbox)), base_url="https://api") as api:
        first = registration_tokens(api, creds)
        second = token(api, creds, grant_type="refresh_token", refresh_token=first["refresh_token"])
    live = {
        "client_credentials": tenant.grant(client, "client_credentials", {}).access_value,
        "user": second["access_token"],
        "refresh": second["refresh_token"],
        "personal": tenant.add_personal_token(user),
        "seeded_personal": creds.personal_tokens[0]["token"],
    }
    tenant.faults.add(FaultKind.RATE_LIMITED, path="/nowhere")
    tenant.clock.advance(3600)
    sandbox.close()
    values = {"live": live, "superseded": first["access_token"], "journal": len(tenant.journal)}
    (directory / f"{name}.json").write_text(json.dumps(values, indent=2) + "\n")


def checkpointed_size(path: Path) -> int:
    """The database file's size once the WAL is copied into it."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return path.stat().st_size


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


if __name__ == "__main__":  # pragma: no cover
    make_fixture()
