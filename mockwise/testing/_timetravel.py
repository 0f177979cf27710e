"""Moving this process's clock (time-machine), for clients that renew on their own clock: the
pytest fixture's `clock.advance(..., process=True)` and the contract suites' in-process stories
both move it through this one `ProcessClock`."""

from __future__ import annotations

import contextlib
import time
from typing import Any


class ProcessClock:
    """This process's `time.time()` (and `datetime.now()`, `time.monotonic()`...) running from now,
    shifted on demand. Stop it to return to the real clock."""

    def __init__(self) -> None:
        self._travel: Any = None
        self._traveller: Any = None

    @property
    def started(self) -> bool:
        return self._traveller is not None

    def start(self) -> None:
        try:
            import time_machine
        except ImportError:  # pragma: no cover - a dependency, but say what is missing
            raise RuntimeError(
                "moving the process clock needs time-machine: pip install time-machine"
            ) from None
        self._travel = time_machine.travel(time.time(), tick=True)
        self._traveller = self._travel.start()

    def shift(self, seconds: float) -> None:
        if self._traveller is None:
            self.start()
        self._traveller.shift(seconds)

    def stop(self) -> None:
        if self._travel is not None:
            with contextlib.suppress(Exception):
                self._travel.stop()
        self._travel = self._traveller = None
