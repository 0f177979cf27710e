"""The client's own clock, moved by the suite together with the sandbox's.

Real clients decide when to renew from `expires_in` on their own clock, so a suite that moves only
the sandbox's clock can test early expiry and skew but never proactive renewal. A server move that
moves "both clocks" shifts the client's clock too:

- in-process Python clients: `time-machine` shifts `time.time()` and `datetime.now()` for the whole
  process; `time.sleep()` moves the clock instead of waiting; in the client's own package
  `time.monotonic()` moves too, as do names bound at import (`from time import sleep, monotonic`);
- subprocess clients: libfaketime (Debian's `faketime` package), preloaded into the client's
  process and reading its offset from a file the suite rewrites;
- a client that takes an injected clock: `ManualClock`.

A clock that cannot move (`NoClock`) says why (`fixed_because`): the obligations that need the
client to see time pass are then reported as not exercised, with that reason, never as kept.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from mockwise.testing._timetravel import ProcessClock


class ClientClock(Protocol):
    movable: bool

    def start(self) -> None: ...

    def shift(self, seconds: float) -> None: ...

    def stop(self) -> None: ...

    def environment(self) -> dict[str, str]:
        """Variables a subprocess needs for this clock to reach it."""
        ...


def fixed_because(clock: ClientClock) -> str:
    """Why the suite cannot move this clock ("" when it can)."""
    if getattr(clock, "movable", False):
        return ""
    return str(getattr(clock, "reason", "") or "the client's clock cannot be moved")


FAKETIME_MISSING = (
    "the client's clock cannot be moved: libfaketime is not installed (apt-get install faketime)"
)


class NoClock:
    """For clients whose clock cannot be moved: proactive-renewal moves become sandbox-only."""

    movable = False

    def __init__(self, reason: str = "the client's clock cannot be moved") -> None:
        self.reason = reason

    def start(self) -> None:
        pass

    def shift(self, seconds: float) -> None:
        raise RuntimeError(self.reason)

    def stop(self) -> None:
        pass

    def environment(self) -> dict[str, str]:
        return {}


class ManualClock:
    """An injectable clock: pass `clock.now` to a client that accepts one."""

    movable = True

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def start(self) -> None:
        self.offset = 0.0

    def shift(self, seconds: float) -> None:
        self.offset += seconds

    def stop(self) -> None:
        self.offset = 0.0

    def environment(self) -> dict[str, str]:
        return {}


#: Seconds a client may wait (sleep) in one story, in all: far more than any sane backoff or
#: Retry-After takes there (the suite's 429s ask for a second).
MAX_WAITING = 3600.0


class WaitedTooLong(BaseException):  # not Exception: a client's `except Exception` must not swallow it
    """Raised in a client's `time.sleep` once it has waited past `MAX_WAITING` in one story."""


class TimeMachineClock:
    """Moves this process's clocks with time-machine (in-process Python clients).

    While a story runs, `time.sleep` moves the clock instead of waiting: a client (or a library it
    uses) honouring a Retry-After or backing off costs no real time, and the sandbox (which reads
    the same patched clock) still sees how long the client waited.

    `packages`: the client's own top-level packages. In them, `time.monotonic()` moves with the
    clock too (their `time` module is a stand-in that adds the shifts), and so do names bound at
    import (`from time import sleep, monotonic`). Elsewhere `time.monotonic` keeps real time:
    event loops, connection pools and thread timeouts must not jump by hours."""

    movable = True
    real_waits = False  # set for a sandbox in another process, which cannot see a skipped wait

    def __init__(self, packages: tuple[str, ...] = ()) -> None:
        self.packages = packages
        self._process = ProcessClock()
        self._offset = 0.0
        self._waited = 0.0
        self._patched: list[tuple[Any, str, Any]] = []  # (namespace, name, original)

    def start(self) -> None:
        self._process.start()
        self._offset = self._waited = 0.0
        real_sleep, real_monotonic, real_monotonic_ns = time.sleep, time.monotonic, time.monotonic_ns

        def sleep(seconds: float) -> None:  # replaces time.sleep while a story runs
            seconds = self._account(seconds)
            if self.real_waits:
                real_sleep(seconds)  # the clock ticks through it
                return
            if seconds > 0:
                self.shift(seconds)
            real_sleep(0)  # still yield to other threads

        def monotonic() -> float:
            return real_monotonic() + self._offset

        def monotonic_ns() -> int:
            return real_monotonic_ns() + int(self._offset * 1e9)

        self._patch(time, "sleep", sleep)
        stand_in = _TimeModule(sleep, monotonic, monotonic_ns)
        replacements = {
            real_sleep: sleep,
            real_monotonic: monotonic,
            real_monotonic_ns: monotonic_ns,
            time: stand_in,
        }
        for module in _own_modules(self.packages):
            for name, value in list(vars(module).items()):
                new_value = _replacement(replacements, value)
                if new_value is not None:
                    self._patch(module, name, new_value)

    def _account(self, seconds: float) -> float:
        """A wait, counted against the story's allowance: a client that would wait longer (an
        endless retry loop, its backoff doubling) is stopped, or its skipped waits would move the
        clock past the end of time."""
        if self._waited > MAX_WAITING:
            raise WaitedTooLong(f"the client waited more than {MAX_WAITING:.0f} s in one story")
        seconds = min(max(seconds, 0.0), MAX_WAITING)
        self._waited += seconds
        return seconds

    def _patch(self, namespace: Any, name: str, value: Any) -> None:
        self._patched.append((namespace, name, getattr(namespace, name)))
        setattr(namespace, name, value)

    def shift(self, seconds: float) -> None:
        assert self._process.started, "start() first"
        self._process.shift(seconds)
        self._offset += seconds

    def stop(self) -> None:
        for namespace, name, original in reversed(self._patched):
            setattr(namespace, name, original)
        self._patched.clear()
        self._process.stop()

    def environment(self) -> dict[str, str]:
        return {}


class _TimeModule(types.ModuleType):
    """The `time` module as a client's own package sees it during a story: `sleep` and
    `monotonic` move with the client's clock; everything else is the real module's."""

    def __init__(self, sleep: Any, monotonic: Any, monotonic_ns: Any) -> None:
        super().__init__("time")
        self.sleep = sleep
        self.monotonic = monotonic
        self.monotonic_ns = monotonic_ns
        self._real = time

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _replacement(replacements: dict[Any, Any], value: Any) -> Any:
    try:
        return replacements.get(value)
    except TypeError:  # unhashable module attributes
        return None


def _own_modules(packages: tuple[str, ...]) -> list[Any]:
    return [
        module
        for name, module in list(sys.modules.items())
        if module is not None
        and name != __name__  # this module keeps the real clock it moves the others with
        and any(name == p or name.startswith(p + ".") for p in packages)
    ]


#: The synchronised build (`libfaketimeMT`) first: with `FAKETIME_NO_CACHE` the plain one re-reads
#: the timestamp file into a static buffer on every call, and a thread reading the time while
#: another re-reads it can get the real time (offset lost). Measured on Debian's 0.9.10: 4 threads
#: reading the time 2,000 times each saw the real time in 7 of 20 processes with the plain build,
#: in none of 80 with the MT one (libfaketime's README; wolfcw/libfaketime#151, #547). A client
#: whose workers read the clock at once was blamed for tokens its own clock had renewed.
LIBFAKETIME_GLOBS = tuple(
    f"{folder}/{name}"
    for name in ("libfaketimeMT.so.1", "libfaketime.so.1")
    for folder in ("/usr/lib/*/faketime", "/usr/lib/faketime", "/usr/local/lib/faketime")
)


def find_libfaketime() -> str | None:
    for pattern in LIBFAKETIME_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


class FaketimeClock:
    """Moves a subprocess's wall clock with libfaketime, through a timestamp file it re-reads.

    Only the wall clock (CLOCK_REALTIME) moves; the monotonic clock stays real. Token lifetimes are
    the wall clock's business (`expires_in` from when the answer came, `expires_at` an instant),
    while timers, timeouts and sleeps run on the monotonic clock in Node (libuv), the JVM
    (`System.nanoTime`, `Thread.sleep`, parks, `HttpClient`'s timeouts) and Python (`threading`,
    `time.sleep`). Were it moved, the suite's jump of twelve hours would fire every pending timer at
    once, and its step back between stories would leave them waiting twelve hours.

    What moves, per runtime: Python `time.time()`, `datetime.now()`; Node `Date.now()`, `new Date()`;
    the JVM `System.currentTimeMillis()`, `Instant.now()`, `Clock.systemUTC()`. What does not:
    `time.monotonic()`, `performance.now()`, `process.hrtime()`, `System.nanoTime()`, and every
    wait. A client that measures a token's age on the monotonic clock does not see the suite's
    moves (and is judged as if it had not renewed); one that schedules on the wall clock
    (`java.util.Timer`) sees its timers jump.

    Debian's libfaketime 0.9.10 needs two settings for this: `FAKETIME_DONT_FAKE_MONOTONIC`, and
    `FAKETIME_FORCE_MONOTONIC_FIX=0`, without which its `pthread_cond_timedwait` turns a wait on a
    monotonic condition variable into one on the faked wall clock: the JVM's timed waits and parks
    returned at once, and a client used ten times its CPU (wolfcw/libfaketime#503, fixed after
    0.9.12). Its `clock_nanosleep` with an absolute monotonic deadline is wrong either way, so
    Python 3.11's `time.sleep` fails with EINVAL (or, monotonic clock faked, never returns);
    `subprocess_driver.safe_sleep_under_faketime` puts a working `time.sleep` in its place
    for Python clients the driver serves (`python -m mockwise.contracts.subprocess_driver`).
    """

    movable = True

    def __init__(self, directory: Path, library: str | None = None) -> None:
        self.library = library or find_libfaketime()
        if self.library is None:
            raise RuntimeError(FAKETIME_MISSING)
        self.file = directory / "faketime.rc"
        self.offset = 0.0

    def start(self) -> None:
        self.offset = 0.0
        self._write()

    def shift(self, seconds: float) -> None:
        self.offset += seconds
        self._write()

    def stop(self) -> None:
        # The file stays: a client process kept for the next story reads it until then (unless
        # the process is gone, and its directory with it).
        self.offset = 0.0
        with contextlib.suppress(OSError):
            self._write()

    def _write(self) -> None:
        tmp = self.file.with_suffix(".tmp")
        # Whole seconds, rounded up: a client whose clock is ahead renews early (never blamed),
        # one whose clock lags could be blamed for a token it believed fresh.
        tmp.write_text(f"+{_ceil(self.offset)}\n", encoding="ascii")
        os.replace(tmp, self.file)

    def environment(self) -> dict[str, str]:
        assert self.library is not None
        return {
            "LD_PRELOAD": self.library,
            "FAKETIME_TIMESTAMP_FILE": str(self.file),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_RESET": "1",
            # The wall clock moves, the monotonic clock does not (see `FaketimeClock`).
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_FORCE_MONOTONIC_FIX": "0",
        }


def _ceil(seconds: float) -> int:
    whole = int(seconds)
    return whole + 1 if seconds > whole else whole


ClockFactory = Callable[[], ClientClock]
