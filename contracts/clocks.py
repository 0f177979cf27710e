"""The client's own clock, moved by the suite together with the sandbox's.

Real clients decide when to renew from `expires_in` on their own clock, so a suite that moves only
the sandbox's clock can test early expiry and skew but never proactive renewal. A server move that
moves "both clocks" shifts the client's clock too:

- in-process Python clients: `time-machine` shifts `time.time()` (and `datetime.now()`) for the
  whole process; clients must read the wall clock, not `time.monotonic()`, which it leaves alone;
- subprocess clients: libfaketime (Debian's `faketime` package), preloaded into the client's
  process and reading its offset from a file the suite rewrites;
- a client that takes an injected clock: `ManualClock`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import time
from pathlib import Path
from typing import Any, Protocol

from mockwise.timetravel import ProcessClock


class ClientClock(Protocol):
    def start(self) -> None: ...

    def shift(self, seconds: float) -> None: ...

    def stop(self) -> None: ...

    def environment(self) -> dict[str, str]:
        """Variables a subprocess needs for this clock to reach it."""
        ...


class NoClock:
    """For clients whose clock cannot be moved: proactive-renewal moves become sandbox-only."""

    movable = False

    def start(self) -> None:
        pass

    def shift(self, seconds: float) -> None:
        raise RuntimeError("this client's clock cannot be moved")

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


class TimeMachineClock:
    """Moves this process's wall clock with time-machine (in-process Python clients).

    While a story runs, `time.sleep` moves the clock instead of waiting: a client honouring a
    Retry-After or backing off costs no real time, and the sandbox (which reads the same patched
    clock) still sees how long the client waited."""

    movable = True
    real_waits = False  # set for a sandbox in another process, which cannot see a skipped wait

    def __init__(self) -> None:
        self._process = ProcessClock()
        self._real_sleep: Any = None

    def start(self) -> None:
        self._process.start()
        self._real_sleep = time.sleep
        time.sleep = self._sleep  # type: ignore[assignment]

    def _sleep(self, seconds: float) -> None:  # replaces time.sleep while a story runs
        if self.real_waits:
            if self._real_sleep is not None:
                self._real_sleep(seconds)  # the clock ticks through it
            return
        if seconds > 0 and self._process.started:
            self._process.shift(seconds)
        if self._real_sleep is not None:
            self._real_sleep(0)  # still yield to other threads

    def shift(self, seconds: float) -> None:
        assert self._process.started, "start() first"
        self._process.shift(seconds)

    def stop(self) -> None:
        if self._real_sleep is not None:
            time.sleep = self._real_sleep
            self._real_sleep = None
        self._process.stop()

    def environment(self) -> dict[str, str]:
        return {}


LIBFAKETIME_GLOBS = (
    "/usr/lib/*/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
)


def find_libfaketime() -> str | None:
    for pattern in LIBFAKETIME_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


class FaketimeClock:
    """Moves a subprocess's clock with libfaketime, through a timestamp file it re-reads."""

    movable = True

    def __init__(self, directory: Path, library: str | None = None) -> None:
        self.library = library or find_libfaketime()
        if self.library is None:
            raise RuntimeError("libfaketime not found: apt-get install faketime")
        self.file = directory / "faketime.rc"
        self.offset = 0.0

    def start(self) -> None:
        self.offset = 0.0
        self._write()

    def shift(self, seconds: float) -> None:
        self.offset += seconds
        self._write()

    def stop(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.file.unlink()

    def _write(self) -> None:
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(f"{self.offset:+.0f}\n", encoding="ascii")
        os.replace(tmp, self.file)

    def environment(self) -> dict[str, str]:
        assert self.library is not None
        return {
            "LD_PRELOAD": self.library,
            "FAKETIME_TIMESTAMP_FILE": str(self.file),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_RESET": "1",
        }
