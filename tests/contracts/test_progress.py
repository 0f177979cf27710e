"""Progress while a run runs: a live line on a terminal, a line every few seconds in CI."""

from __future__ import annotations

import io

import pytest

from mockwise.contracts.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_one_line_is_rewritten() -> None:
    screen = Terminal()
    progress = Progress(screen, deadline=None)
    progress.stories, progress.steps, progress.broken = 3, 40, ["STATE-CHECKED"]
    progress.update(force=True)
    progress.stories = 4
    progress.update(force=True)
    progress.done()
    text = screen.getvalue()
    assert "\n" not in text and text.count("\r") == 4 and text.endswith(" \r")  # cleared at the end
    assert "4 stories" in text and "broken: STATE-CHECKED" in text


def test_in_ci_a_line_every_few_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    log = io.StringIO()
    progress = Progress(log)
    progress.update()  # the first at once
    progress.update()  # then not before CI_EVERY seconds
    assert log.getvalue().count("\n") == 1
    monkeypatch.setattr("mockwise.contracts.progress.CI_EVERY", 0.0)
    progress.phase, progress.replays = "shrink", 7
    progress.update()
    assert log.getvalue().count("\n") == 2 and "shrink" in log.getvalue() and "7 replays" in log.getvalue()


def test_the_budget_left_is_shown() -> None:
    progress = Progress(io.StringIO())
    progress.deadline = progress.started + 60
    assert "s left)" in progress.line(progress.started + 15) and "≤ 45 s left" in progress.line(
        progress.started + 15
    )


def test_nothing_is_shown_without_a_stream() -> None:
    Progress().update(force=True)  # no stream: quiet
