"""The client's clock: what moves it, what it leaves alone, and why a clock cannot move."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockwise.contracts.adapter import Outcome
from mockwise.contracts.clocks import (
    FAKETIME_MISSING,
    MAX_WAITING,
    FaketimeClock,
    NoClock,
    TimeMachineClock,
    WaitedTooLong,
    find_libfaketime,
    fixed_because,
)
from mockwise.contracts.subprocess_driver import SubprocessClients
from mockwise.contracts.world import _guarded

CLIENT = """\
import time
from time import monotonic, sleep


def plain_monotonic():
    return time.monotonic()


def bound_monotonic():
    return monotonic()


def wall():
    return time.time()


def nap(seconds):
    sleep(seconds)
"""


@pytest.fixture
def client_package(tmp_path: Path) -> Iterator[object]:
    """A client package that binds `sleep` and `monotonic` at import, as many do."""
    package = tmp_path / "bound_clock_client"
    package.mkdir()
    (package / "__init__.py").write_text(CLIENT, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        import bound_clock_client  # type: ignore[import-not-found]

        yield bound_clock_client
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("bound_clock_client", None)


def test_a_story_moves_the_client_s_clocks_and_skips_its_waits(client_package: object) -> None:
    client: object = client_package
    clock = TimeMachineClock(("bound_clock_client",))
    clock.start()
    try:
        before = (client.plain_monotonic(), client.bound_monotonic(), client.wall())  # type: ignore[attr-defined]
        began = time.perf_counter()
        client.nap(30)  # type: ignore[attr-defined]
        assert time.perf_counter() - began < 5  # not waited for real
        clock.shift(12 * 3600)
        after = (client.plain_monotonic(), client.bound_monotonic(), client.wall())  # type: ignore[attr-defined]
        assert [round(b - a) for a, b in zip(before, after, strict=True)] == [43230] * 3
        assert time.monotonic() < before[0] + 60  # the rest of the process keeps real monotonic time
    finally:
        clock.stop()
    assert client.monotonic is time.monotonic and client.sleep is time.sleep  # type: ignore[attr-defined]
    assert client.time is time  # type: ignore[attr-defined]


def test_a_faketime_offset_is_rounded_up(tmp_path: Path) -> None:
    clock = FaketimeClock(tmp_path, library="/usr/lib/libfaketime.so.1")
    clock.start()
    clock.shift(43199.2)  # a client whose clock lags could be blamed for a token it thought fresh
    assert clock.file.read_text(encoding="ascii") == "+43200\n"
    clock.stop()
    assert clock.file.read_text(encoding="ascii") == "+0\n"  # kept for a process that serves on


THREADED_CHILD = """
import sys, threading, time
told = float(sys.argv[1])
lost = []
def read():
    for _ in range(2000):
        if time.time() < told - 60:
            lost.append(1)
workers = [threading.Thread(target=read) for _ in range(4)]
for w in workers: w.start()
for w in workers: w.join()
print(len(lost))
"""


@pytest.mark.skipif(find_libfaketime() is None, reason="needs Debian's faketime (.ci/run installs it)")
def test_a_moved_clock_holds_in_every_thread_of_a_client(tmp_path: Path) -> None:
    """Threads reading the time at once never see the real one (the plain libfaketime build lost
    the offset in about a third of such processes: the suites blamed a correct client)."""
    import os
    import subprocess

    clock = FaketimeClock(tmp_path)
    clock.start()
    clock.shift(64501)
    env = {**os.environ, **clock.environment()}
    for _ in range(10):
        done = subprocess.run(
            [sys.executable, "-c", THREADED_CHILD, str(time.time() + 64501)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert done.stdout.strip() == "0", "a thread read the real time: the client's clock was not moved"
    assert "libfaketimeMT" in (clock.library or "")


def test_a_clock_that_cannot_move_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    assert fixed_because(TimeMachineClock()) == ""
    assert fixed_because(NoClock("because")) == "because"
    monkeypatch.setattr("mockwise.contracts.subprocess_driver.find_libfaketime", lambda: None)
    clients = SubprocessClients("true")
    assert clients.clock_reason == FAKETIME_MISSING and "apt-get install faketime" in FAKETIME_MISSING
    assert fixed_because(clients.make_clock()) == FAKETIME_MISSING


def test_an_endless_retry_loop_is_stopped_in_its_sleep() -> None:
    clock = TimeMachineClock()
    clock.start()
    try:
        with pytest.raises(WaitedTooLong):
            backoff = 0.1
            while True:  # a client that never gives up, its backoff doubling
                time.sleep(backoff)
                backoff *= 2
        assert time.time() < 4e9  # the clock was not moved past the end of time
    finally:
        clock.stop()
    assert _guarded(lambda: _sleep_forever()) == Outcome(
        "error", "hung", {"stopped": f"the client waited more than {MAX_WAITING:.0f} s in one story"}
    )


def _sleep_forever() -> Outcome:
    clock = TimeMachineClock()
    clock.start()
    try:
        while True:
            time.sleep(600)
    finally:
        clock.stop()
