"""What a run is doing, while it runs: a live line on a terminal, a line every few seconds in CI.

explore  41 stories  612 steps  broken: STATE-CHECKED, USER-NO-EXPIRED  12 s  (≈ 20 s left)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

CI_EVERY = 5.0  # seconds between lines when the output is not a terminal
TTY_EVERY = 0.2


class Stream(Protocol):
    """Where progress goes: a file such as sys.stderr, or anything that writes like one."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> object: ...

    def isatty(self) -> bool: ...


@dataclass
class Progress:
    """Counts the run's stories and steps and shows them; `stream=None` shows nothing."""

    stream: Stream | None = None
    started: float = field(default_factory=time.perf_counter)
    phase: str = "explore"
    stories: int = 0
    steps: int = 0
    replays: int = 0
    broken: list[str] = field(default_factory=list)
    deadline: float | None = None  # when the budget runs out (perf_counter)
    _shown: float = 0.0
    _width: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def tty(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def update(self, *, force: bool = False) -> None:
        if self.stream is None:
            return
        now = time.perf_counter()
        with self._lock:
            if not force and now - self._shown < (TTY_EVERY if self.tty else CI_EVERY):
                return
            self._shown = now
            line = self.line(now)
            if self.tty:
                pad = max(0, self._width - len(line))
                self.stream.write("\r" + line + " " * pad)
                self._width = len(line)
            else:
                self.stream.write(line + "\n")
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        now = time.perf_counter() if now is None else now
        elapsed = now - self.started
        parts = [f"{self.phase:<8}", f"{self.stories} stories", f"{self.steps} steps"]
        if self.replays:
            parts.append(f"{self.replays} replays")
        broken = ", ".join(self.broken) if self.broken else "none"
        parts.append(f"broken: {broken}")
        parts.append(f"{elapsed:.0f} s")
        if self.deadline is not None:
            parts.append(f"(≤ {max(0.0, self.deadline - now):.0f} s left)")
        return "  ".join(parts)

    def done(self) -> None:
        if self.stream is None:
            return
        with self._lock:
            if self.tty and self._width:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
