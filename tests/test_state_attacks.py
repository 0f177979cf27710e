"""The attacks of issue 24 on the state store, each kept as a test so none can come back:

- a crafted state file runs nothing (three pickle vectors of schema 1, and pickles where schema 2
  keeps JSON): the file is named and refused, and the marker file the payload would make is absent;
- a state directory that is not ours is refused; planted links are never followed; the lock holds
  though `serve.lock` is deleted;
- a login lockout survives a crash, and every stored part a domain service changes is marked (an
  auditing store fails a change without a mark);
- a flood of made-up e-mails or cookie-less page loads evicts no lockout and no signed-in session;
- corrupt or failing storage is answered (one line at start-up, a 401 for a bad row, a 503 and a
  degraded health check for a full disk), never a traceback or a 500.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockwise._domain.errors import RateLimited
from mockwise._domain.linking import MAX_LOGIN_ATTEMPTS, Attempts, StepRefused
from mockwise._domain.sandbox import Sandbox
from mockwise._http.app import create_app
from mockwise._pki import write_file, write_private
from mockwise._store import SqliteStore, StateError, StateLock, UnsafeState, check_directory
from mockwise._store.pickles import PickleError, plain, read_pickle
from mockwise._transport.inprocess import SyncASGITransport
from tests.helpers import bearer, partner, token
from tests.linking import ALEX, PASSWORD

FIXTURES = Path(__file__).parent / "fixtures"


def opened(path: Path, **kwargs: Any) -> Sandbox:
    return Sandbox(store=SqliteStore(path, **kwargs))


def crashed(sandbox: Sandbox) -> None:
    sandbox.flush()
    assert isinstance(sandbox.store, SqliteStore)
    sandbox.store.close_quietly()


# 1. A state file is data: three ways a schema-1 file ran code, and pickles in a schema-2 file ------


class _Runs:
    """Unpickles as `os.system(command)`: what each vector smuggles in."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        return os.system, (self.command,)


def dotted_name(command: str) -> bytes:
    """Protocol 4 lets a global's name be dotted: `mockwise.statedb` + `os.system` is `os.system`
    to an unpickler that allowed any module starting with `mockwise.` (vector 1)."""

    def text(value: str) -> bytes:
        raw = value.encode()
        return b"\x8c" + bytes([len(raw)]) + raw

    return b"\x80\x04" + text("mockwise.statedb") + text("os.system") + b"\x93" + text(command) + b"\x85R."


def v1_copy(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    shutil.copy(FIXTURES / "state-v1.db", path)
    return path


@pytest.mark.parametrize("vector", ["dotted_name", "directory_bytes", "seeded_bytes", "journal"])
def test_a_crafted_schema_1_file_runs_nothing_and_is_refused(tmp_path: Path, vector: str) -> None:
    marker = tmp_path / "ran"
    command = f"touch {marker}"
    path = v1_copy(tmp_path)
    with sqlite3.connect(path) as db:
        if vector == "dotted_name":  # any part, read at start-up
            db.execute("UPDATE parts SET data = ? WHERE name = 'faults'", (dotted_name(command),))
        elif vector == "directory_bytes":  # a restricted pickle of bytes handed to a plain loads
            db.execute(
                "UPDATE parts SET data = ? WHERE name = 'directory'",
                (pickle.dumps(pickle.dumps(_Runs(command))),),
            )
        elif vector == "seeded_bytes":  # the seeded snapshot, loaded by a reset
            db.execute(
                "UPDATE parts SET data = ? WHERE name = 'seeded'",
                (pickle.dumps(pickle.dumps(_Runs(command))),),
            )
        else:
            db.execute("UPDATE journal SET entries = ?", (pickle.dumps(_Runs(command)),))
    with pytest.raises(StateError) as refused:
        opened(path)
    message = str(refused.value)
    assert str(path) in message and "--fresh" in message and "\n" not in message
    assert "os.system" in message or "posix.system" in message
    assert not marker.exists()
    with sqlite3.connect(path) as db:  # the failed migration changed nothing
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1


@pytest.mark.parametrize("part", ["faults", "directory", "seeded", "settings"])
def test_a_pickle_in_a_schema_2_file_is_not_data_and_runs_nothing(tmp_path: Path, part: str) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "state.db"
    sandbox = opened(path)
    sandbox.create_tenant("t")
    sandbox.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE parts SET data = ? WHERE name = ?", (pickle.dumps(_Runs(f"touch {marker}")), part))
        assert db.execute("SELECT count(*) FROM parts WHERE name = ?", (part,)).fetchone()[0] == 1
    with pytest.raises(StateError, match=r"cannot read .*not JSON") as refused:
        opened(path)
    assert str(path) in str(refused.value) and not marker.exists()


def test_the_opcode_reader_calls_nothing_and_names_what_it_refuses() -> None:
    assert plain(read_pickle(pickle.dumps({"a": (1, 2.5, None, [True])}))) == {"a": (1, 2.5, None, [True])}
    for payload, named in [
        (pickle.dumps(_Runs("true")), "system"),
        (dotted_name("true"), "os.system"),
        (pickle.dumps(shutil.rmtree), "shutil.rmtree"),
        (b"cos\nsystem\n(S'true'\ntR.", "os.system"),  # protocol 0
    ]:
        with pytest.raises(PickleError, match=named):
            plain(read_pickle(payload))
    for torn in (b"", b"\x80\x05", b"garbage", b"(((((((.", struct.pack("<B", 0x80) + b"\x05\x8c\xff"):
        with pytest.raises(PickleError):
            plain(read_pickle(torn))


LOADER = re.compile(r"\bpickle\.(loads?|Unpickler)\b|^\s*(import pickle|from pickle import)\b")


def test_mockwise_holds_no_pickle_loader() -> None:
    root = Path(__file__).resolve().parents[1] / "mockwise"
    loaders = [
        f"{path.relative_to(root)}:{n}"
        for path in root.rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if LOADER.search(line)
    ]
    assert loaders == []


def test_serve_names_a_crafted_state_file_and_refuses_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    path = v1_copy(state)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE parts SET data = ? WHERE name = 'faults'", (dotted_name(f"touch {marker}"),))
    done = serve(state)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "--fresh" in lines[0], done.stderr
    assert not marker.exists()


def serve(state: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`mockwise serve` on a state directory that must fail before it serves (it would run on)."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "mockwise._standalone.cli", "serve", "--http", "--port", "0", "--quiet"),
            *("--state-dir", str(state), *extra),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# 2. A state directory that is ours ------------------------------------------------------------------


def test_a_directory_others_may_write_is_refused_and_a_new_one_is_ours(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UnsafeState, match=r"writable by group or others \(mode 0777\).*chmod go-w"):
        StateLock(shared).acquire()
    made = tmp_path / "made" / "state"
    StateLock(made).acquire().release()
    assert (made.stat().st_mode & 0o777) == 0o700


def test_a_file_others_may_write_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sandbox.json").write_text("{}")
    (tmp_path / "sandbox.json").chmod(0o666)
    with pytest.raises(UnsafeState, match=r"sandbox\.json is writable by group or others"):
        check_directory(tmp_path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to give a file away")
def test_a_directory_another_user_owns_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 4242, 4242)
    with pytest.raises(UnsafeState, match="belongs to user 4242, not to this user"):
        StateLock(theirs).acquire()
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    (mine / "state.db").write_bytes(b"")
    os.chown(mine / "state.db", 4242, 4242)
    with pytest.raises(UnsafeState, match=r"state\.db belongs to user 4242"):
        StateLock(mine).acquire()


def test_serve_refuses_a_shared_directory_with_exit_status_2(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    done = serve(shared)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "chmod go-w" in done.stderr, done.stderr
    assert list(shared.iterdir()) == []  # nothing written into it


@pytest.mark.parametrize("name", ["serve.lock", "state.db", "state.db-wal", "ca.key", "sandbox.json"])
def test_a_planted_link_is_refused_and_its_target_untouched(tmp_path: Path, name: str) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (state / name).symlink_to(victim)
    with pytest.raises(UnsafeState, match=f"{name} is a symbolic link"):
        StateLock(state).acquire()
    dangling = tmp_path / "elsewhere.db"
    if name == "state.db":
        (state / name).unlink()
        (state / name).symlink_to(dangling)
        with pytest.raises(UnsafeState):
            StateLock(state).acquire()
        with pytest.raises(StateError, match="symbolic link"):
            opened(state / name)
    assert victim.read_text() == "precious" and not dangling.exists()


def test_a_temporary_file_is_never_written_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    for target in (tmp_path / "sandbox.json", tmp_path / "ca.key"):
        Path(f"{target}.tmp").symlink_to(victim)
        write_private(target, "secret")
        assert target.read_text() == "secret" and not target.is_symlink()
        assert (target.stat().st_mode & 0o777) == 0o600
    linked = tmp_path / "ca.pem"
    linked.symlink_to(victim)  # the file itself a link: replaced, not written through
    write_file(linked, "certificate")
    assert not linked.is_symlink() and linked.read_text() == "certificate"
    assert victim.read_text() == "precious"


def test_the_lock_holds_when_serve_lock_is_deleted(tmp_path: Path) -> None:
    lock = StateLock(tmp_path).acquire()
    try:
        (tmp_path / "serve.lock").unlink()
        with pytest.raises(StateError, match="in use by another mockwise serve"):
            StateLock(tmp_path).acquire()
    finally:
        lock.release()
    StateLock(tmp_path).acquire().release()


def test_a_new_database_is_whole_and_a_0_byte_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    opened(path).close()
    assert (path.stat().st_mode & 0o777) == 0o600 and not Path(f"{path}.new").exists()
    path.write_bytes(b"")
    with pytest.raises(StateError, match=r"is empty \(0 bytes\).*--fresh") as refused:
        opened(path)
    assert "\n" not in str(refused.value)


# 3. Every security state persisted when it changes ---------------------------------------------------


def test_a_login_lockout_survives_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    sandbox = opened(path)
    tenant, _ = sandbox.create_tenant("t")
    sandbox.flush()
    limit = tenant.settings.authorize.login_max_failures
    session, _ = tenant.linking.open_session(None)
    for _ in range(limit):
        with pytest.raises(StepRefused):
            tenant.linking.log_in(session, ALEX, "wrong password")
    crashed(sandbox)  # no clean close: only what was marked and written survives

    again = opened(path).tenant("t")
    session, _ = again.linking.open_session(None)
    with pytest.raises(StepRefused) as refused:
        again.linking.log_in(session, ALEX, PASSWORD)
    assert refused.value.error == "locked"


def test_every_change_a_domain_service_makes_is_marked(tmp_path: Path) -> None:
    """An auditing store checks at each write that no stored part changed without a mark. The busy
    tenant of test_statedb exercises every part; each step is written at once, so a change left
    unmarked is caught at the step that made it."""
    from tests.test_statedb import busy

    sandbox = opened(tmp_path / "state.db", audit=True)
    busy(sandbox)
    tenant = sandbox.tenant("busy")
    session, _ = tenant.linking.open_session(None)
    for password in ("wrong", "wrong again", PASSWORD):
        with pytest.raises(StepRefused):
            tenant.linking.log_in(session, "nobody@example.com", password)
        sandbox.flush()
    tenant.reset()
    sandbox.flush()
    assert isinstance(sandbox.store, SqliteStore)
    assert sandbox.store.unmarked == []


def test_the_audit_catches_a_change_without_a_mark(tmp_path: Path) -> None:
    """The rule's own proof: a change behind the ledger's back (as `log_in` made before) is caught."""
    sandbox = opened(tmp_path / "state.db", audit=True)
    tenant, _ = sandbox.create_tenant("t")
    sandbox.flush()
    tenant.linking.login_attempts["victim@example.com"] = Attempts(failures=3)
    sandbox.flush()
    assert isinstance(sandbox.store, SqliteStore)
    assert sandbox.store.unmarked == ["tenant 't': 'linking' changed without a mark"]


# 4. Lockouts a flood cannot evict ---------------------------------------------------------------------


def test_a_flood_of_made_up_e_mails_evicts_no_lockout_and_no_count(tmp_path: Path) -> None:
    sandbox = Sandbox()
    tenant, _ = sandbox.create_tenant("t")
    linking = tenant.linking
    limit = tenant.settings.authorize.login_max_failures
    session, _ = linking.open_session(None)

    def wrong(email: str) -> str:
        with pytest.raises(StepRefused) as refused:
            linking.log_in(session, email, "wrong password")
        return refused.value.error

    for _ in range(limit):
        wrong("locked@example.com")
    for _ in range(limit - 1):
        wrong(ALEX)  # one guess from a lockout
    refused_at = None
    for n in range(MAX_LOGIN_ATTEMPTS + 10):  # the flood
        try:
            wrong(f"made-up-{n}@example.com")
        except RateLimited:
            refused_at = n
            break
    assert refused_at == MAX_LOGIN_ATTEMPTS - 2  # full of live entries: the newcomer is refused
    assert wrong(ALEX) == "locked"  # the count was kept
    assert wrong("locked@example.com") == "locked"
    # once the flood's failures are older than a lockout, they make room again
    tenant.clock.advance(tenant.settings.authorize.login_lockout + 1)
    assert wrong("a-newcomer@example.com") == "bad_credentials"


def test_a_flood_of_page_loads_signs_no_one_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mockwise._domain.linking as linking_module

    monkeypatch.setattr(linking_module, "MAX_SESSIONS", 64)
    sandbox = Sandbox()
    tenant, _ = sandbox.create_tenant("t")
    linking = tenant.linking
    victim, cookie = linking.open_session(None)
    linking.log_in(victim, ALEX, PASSWORD)
    assert cookie is not None
    for _ in range(1_000):  # cookie-less page loads
        linking.open_session(None)
    assert linking.session(cookie) is victim
    signed_in = []
    with pytest.raises(RateLimited):  # full of signed-in sessions: a new one is refused
        for _ in range(100):
            session, value = linking.open_session(None)
            linking.log_in(session, ALEX, PASSWORD)
            signed_in.append(value)
    assert linking.session(cookie) is victim and all(linking.session(v) is not None for v in signed_in)


def test_a_flood_is_answered_with_wise_s_rate_limit_on_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mockwise._domain.linking as linking_module

    monkeypatch.setattr(linking_module, "MAX_LOGIN_ATTEMPTS", 8)
    sandbox = Sandbox()
    _, creds = sandbox.create_tenant("t")
    from tests.linking import authorize_url

    url = authorize_url(creds)
    with httpx.Client(transport=SyncASGITransport(create_app(sandbox)), base_url="https://api") as page:
        statuses = []
        for n in range(10):
            shown = page.get(url)
            csrf = shown.text.split('name="csrf" value="')[1].split('"')[0]
            answer = page.post(
                url,
                data={"action": "login", "csrf": csrf, "email": f"flood-{n}@example.com", "password": "x"},
            )
            statuses.append(answer.status_code)
    assert statuses[-1] == 429 and "retry-after" in answer.headers, statuses


# 5. Corrupt or failing storage: answered, not crashed ---------------------------------------------------


def written(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A state database with a tenant and tokens of each kind; answers the token values."""
    path = tmp_path / "state.db"
    sandbox = opened(path)
    _, creds = sandbox.create_tenant("t")
    with httpx.Client(transport=SyncASGITransport(create_app(sandbox)), base_url="https://api") as api:
        cc = token(api, creds, grant_type="client_credentials")["access_token"]
    sandbox.close()
    return path, {"cc": cc, "personal": creds.personal_tokens[0]["token"]}


@pytest.mark.parametrize(
    "damage",
    [
        "ALTER TABLE tokens DROP COLUMN cert",
        "DROP TABLE links",
        "UPDATE parts SET data = 'garbage' WHERE name = 'sca'",
        "UPDATE parts SET data = '{\"offset\": \"soon\"}' WHERE name = 'clock'",
        "UPDATE parts SET data = '{\"oops\": 1}' WHERE name = 'linking'",
        'UPDATE parts SET data = \'[{"id": "f1", "kind": "meteor"}]\' WHERE name = \'faults\'',
        "UPDATE parts SET data = 'null' WHERE name = 'seeded'",
        "UPDATE tenants SET next_link = 'soon'",
        "UPDATE journal SET entries = '[[1]]'",
        "UPDATE codes SET used_at = 'never'",
        "INSERT INTO parts VALUES (1, 'mystery', '{}')",
        "DELETE FROM meta WHERE key = 'secrets_key'",
    ],
)
def test_each_corrupt_shape_gets_one_line(tmp_path: Path, damage: str) -> None:
    path, _ = written(tmp_path)
    with sqlite3.connect(path) as db:
        if "codes" in damage:  # a code to damage
            db.execute(
                "INSERT INTO codes VALUES (?, 1, 'c', 'https://x', 1, NULL, 1.0, 2.0, NULL, NULL)",
                (b"k" * 32,),
            )
        db.execute(damage)
    if damage.endswith("'seeded'"):  # null is "no seeded snapshot": legal
        opened(path).close()
        return
    with pytest.raises(StateError) as refused:
        opened(path)
    message = str(refused.value)
    assert str(path) in message and "--fresh" in message and "\n" not in message, message


@pytest.mark.parametrize("column", ["kind", "issued_at", "key", "user_id"])
def test_a_bad_token_row_is_a_401_not_a_500(tmp_path: Path, column: str) -> None:
    path, values = written(tmp_path)
    bad = {"kind": "'teapot'", "issued_at": "'yesterday'", "key": "'not a digest'", "user_id": "'alex'"}[
        column
    ]
    with sqlite3.connect(path) as db:
        db.execute(f"UPDATE tokens SET {column} = {bad}")  # noqa: S608 - the test's own SQL
    sandbox = opened(path)  # tokens stay on disk: nothing is read until one is presented
    with httpx.Client(transport=SyncASGITransport(create_app(sandbox)), base_url="https://api") as api:
        for value in values.values():
            answer = api.get("/v1/me", headers=bearer(value))
            assert answer.status_code == 401, answer.text
            assert answer.json()["error"] == "invalid_token"
    sandbox.close()


def test_serve_starts_over_a_bad_token_row_and_says_one_line_for_a_dropped_column(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    path, _ = written(state)
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE tokens DROP COLUMN cert")
    done = serve(state)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "has no column 'cert'" in done.stderr and str(path) in done.stderr


def test_a_full_disk_answers_503_and_health_says_degraded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = opened(tmp_path / "state.db")
    _, creds = sandbox.create_tenant("t")
    store = sandbox.store
    assert isinstance(store, SqliteStore)
    sandbox.flush()
    app = create_app(sandbox)

    def full(*args: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    with httpx.Client(transport=SyncASGITransport(app), base_url="https://api") as api:
        with monkeypatch.context() as patched:
            patched.setattr(store, "_commit", full)
            refused = api.post("/oauth/token", auth=partner(creds), data={"grant_type": "client_credentials"})
            assert refused.status_code == 503, refused.text
            body = refused.json()
            assert body["status"] == 503 and body["error"] == "Service Unavailable" and body["path"]
            assert "access_token" not in refused.text
            health = api.get("/_mockwise/health")
            assert health.status_code == 503
            assert health.json()["status"] == "degraded"
            assert "database or disk is full" in health.json()["cause"]
            assert api.get("/v1/me", headers=bearer("x")).status_code == 503  # a read waits for the write
        assert api.get("/_mockwise/health").json()["status"] == "ok"  # the health check tried again
        answer = api.post("/oauth/token", auth=partner(creds), data={"grant_type": "client_credentials"})
        assert answer.status_code == 200
    sandbox.close()


REAL_FULL_DISK = """
import json, resource, sys
from pathlib import Path
import httpx
from mockwise._domain.sandbox import Sandbox
from mockwise._http.app import create_app
from mockwise._store import SqliteStore
from mockwise._transport.inprocess import SyncASGITransport

sandbox = Sandbox(store=SqliteStore(Path(sys.argv[1])))
tenant, creds = sandbox.create_tenant("t")
sandbox.flush()
client = creds.clients[0]
auth = (client["client_id"], client["client_secret"])
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
size = max(p.stat().st_size for p in Path(sys.argv[1]).parent.iterdir())
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 64 * 1024, hard))  # files may grow 64 KiB more
statuses = []
with httpx.Client(transport=SyncASGITransport(create_app(sandbox)), base_url="https://api") as api:
    for _ in range(2000):
        answer = api.post("/oauth/token", auth=auth, data={"grant_type": "client_credentials"})
        statuses.append(answer.status_code)
        if answer.status_code != 200:
            break
    health = api.get("/_mockwise/health")
    print(json.dumps([statuses[-1], answer.json()["error"], health.status_code, health.json()]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # room again
    health = api.get("/_mockwise/health")
    again = api.post("/oauth/token", auth=auth, data={"grant_type": "client_credentials"})
    print(json.dumps([health.json()["status"], again.status_code, len(statuses)]))
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_real_write_past_the_file_size_limit_answers_503_and_recovers(tmp_path: Path) -> None:
    """A real failing write: the kernel refuses to grow the database past RLIMIT_FSIZE (EFBIG, as
    a full disk refuses with ENOSPC; Python ignores the SIGXFSZ that would otherwise kill it)."""
    done = subprocess.run(
        [sys.executable, "-c", REAL_FULL_DISK, str(tmp_path / "state.db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    first, second = map(json.loads, done.stdout.strip().splitlines())
    status, error, health, report = first
    assert (status, error, health, report["status"]) == (503, "Service Unavailable", 503, "degraded"), first
    assert report["cause"].startswith("the state store cannot write: "), report
    state, again, answered = second
    assert (state, again) == ("ok", 200) and answered > 1, second
