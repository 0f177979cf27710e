"""Time under libfaketime for every runtime the examples use (issue 28): in one long-lived process,
as the suites keep a client across stories, the wall clock moves with the suite (twelve hours on,
then back for the next story) while the monotonic clock, and every wait and timer on it, keeps real
time: a timer armed before a jump forward neither fires at once nor, after the step back, waits
hours; sleeps and timed waits last what they ask (docs/contracts.md, "Time and waits")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mockwise.contracts.clocks import FaketimeClock, find_libfaketime

HERE = Path(__file__).parent / "runtimes"
TWELVE_HOURS = 12 * 3600
REQUIRED = os.environ.get("MOCKWISE_REQUIRE_RUNTIMES") == "1"  # CI: Node and the JDK must be there
RUNTIMES = {
    "python": ([sys.executable, str(HERE / "probe.py")], None),
    "node": (["node", str(HERE / "probe.mjs")], "node"),
    "jvm": (["java", str(HERE / "Probe.java")], "java"),
}
WAITS = ("sleep", "wait", "park")  # the waits a probe times, where it has them (200 ms each)

pytestmark = pytest.mark.skipif(find_libfaketime() is None, reason="libfaketime (apt: faketime) missing")


class Probe:
    """A probe process (tests/contracts/runtimes/) with its clock moved by `clock`."""

    def __init__(self, argv: list[str], clock: FaketimeClock) -> None:
        env = {**os.environ, **clock.environment()}
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer

    def fired(self, within: float = 30.0) -> int:
        """Milliseconds after it was armed that the probe's timer fired (on its monotonic clock)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            fired = self.ask("timer")["fired"]
            if fired is not None:
                return int(fired)
            time.sleep(0.2)
        raise AssertionError(f"the timer armed 3 s ago had not fired after {within:.0f} s")

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        finally:
            assert self.process.stdout is not None
            self.process.stdout.close()


@pytest.fixture(params=list(RUNTIMES))
def runtime(request: pytest.FixtureRequest) -> list[str]:
    argv, needs = RUNTIMES[request.param]
    if needs is not None and shutil.which(needs) is None:
        if REQUIRED:
            pytest.fail(f"{needs} is missing (apt-get install nodejs openjdk-17-jdk-headless)")
        pytest.skip(f"{needs} is missing")
    return argv


@pytest.fixture
def clock(tmp_path: Path) -> Iterator[FaketimeClock]:
    clock = FaketimeClock(tmp_path)
    clock.start()
    yield clock
    clock.stop()


def _wall_lead(answer: dict[str, Any]) -> float:
    """How far the probe's wall clock ran ahead of the real one when it answered."""
    return float(answer["wall"]) - time.time()


def _waited_as_asked(answer: dict[str, Any]) -> None:
    for wait in WAITS:
        if wait in answer:
            assert 150 <= answer[wait] < 10_000, f"a 200 ms {wait} took {answer[wait]} ms"


def test_the_wall_clock_moves_and_waits_keep_real_time(runtime: list[str], clock: FaketimeClock) -> None:
    probe = Probe(runtime, clock)
    try:
        first = probe.ask("probe")
        assert abs(_wall_lead(first)) < 10
        _waited_as_asked(first)
        clock.shift(TWELVE_HOURS)
        moved = probe.ask("probe")
        assert abs(_wall_lead(moved) - TWELVE_HOURS) < 10  # what a token's age is measured on
        if "millis" in moved:
            assert abs(moved["millis"] - moved["wall"]) < 5  # System.currentTimeMillis() too
        assert 0 <= moved["mono"] - first["mono"] < 120  # the monotonic clock did not jump
        _waited_as_asked(moved)
        clock.stop()  # the story ends: the next one starts at the real time
        clock.start()
        back = probe.ask("probe")
        assert abs(_wall_lead(back)) < 10 and back["mono"] >= moved["mono"]
        _waited_as_asked(back)
        if "sleep_replaced" in back:  # Python: time.sleep works under Debian's libfaketime 0.9.10 too
            assert back["sleep"] >= 150
    finally:
        probe.close()


def test_a_pending_timer_neither_fires_at_a_jump_nor_waits_out_a_step_back(
    runtime: list[str], clock: FaketimeClock
) -> None:
    probe = Probe(runtime, clock)
    try:
        probe.ask("arm")
        clock.shift(TWELVE_HOURS)  # twelve hours on, in one step
        assert probe.ask("timer")["fired"] is None  # not at once
        assert 2_900 <= probe.fired() < 30_000  # but after its 3 s
        probe.ask("arm")
        clock.stop()  # twelve hours back, for the next story
        clock.start()
        assert 2_900 <= probe.fired() < 30_000  # not twelve hours later
    finally:
        probe.close()
