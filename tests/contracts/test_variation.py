"""Variation is part of the world, and measured: every setting is a variation point or held with a
reason, every value of every point is taken in the default budget, and docs/variation.md is the
catalog with those counts."""

from __future__ import annotations

import json
from pathlib import Path

from mockwise._domain.settings import KEYS, Settings
from mockwise.contracts.report import Report
from mockwise.contracts.runner import local_arena, python_client, replay
from mockwise.contracts.variation import BY_ID, HELD, POINTS, check, dotted, markdown

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_a_variation_point_or_held_with_a_reason() -> None:
    assert check() == []
    assert set(BY_ID) & KEYS | set(HELD) == KEYS


def test_every_point_has_a_source_and_more_than_one_value() -> None:
    for point in POINTS:
        assert point.source and point.question, point.id
        assert len(point.values) >= 2 and len(set(map(json.dumps, point.values))) == len(point.values)


def test_every_value_of_every_point_is_taken_in_the_default_budget(reference_report: Report) -> None:
    assert reference_report.examples == 100
    assert reference_report.variation.never_taken() == []


def test_docs_variation_md_is_the_catalog_with_the_default_budget_s_counts(reference_report: Report) -> None:
    page = (ROOT / "docs" / "variation.md").read_text(encoding="utf-8")
    assert page == markdown(reference_report.variation), (
        "regenerate: python -m mockwise.contracts.coverage > docs/variation.md"
    )


def test_a_scenario_file_written_with_legacy_flat_names_still_replays() -> None:
    """Scenario files of version 2 carried `fidelity` by flat name: read as the dotted names."""
    assert dotted(
        {"refresh_token_rotation": True, "sca_challenge_body": "empty", "oauth.token_type": "Bearer"}
    ) == {
        "oauth.refresh_token_rotation": True,
        "sca.challenge_body": "empty",
        "oauth.token_type": "Bearer",
    }
    scenario = {
        "mockwise_scenario": 2,
        "obligation": "WORKS",
        "fidelity": {"token_response_fields": "legacy", "refresh_token_rotation": True},
        "moves": [
            {"action": "create_user", "args": {}, "created": "c1"},
            {"action": "user_call", "args": {"user": "c1"}},
        ],
    }
    arena = local_arena()
    try:
        make, clock = python_client("mockwise.contracts.reference:factory")
        world = replay(scenario, make, clock, arena, keep=False)
    finally:
        arena.close()
    assert world.settings == {"oauth.token_response_fields": "legacy", "oauth.refresh_token_rotation": True}
    assert [s.outcome for s in world.story] == ["ok", "ok"]


def test_settings_the_stories_draw_are_all_legal() -> None:
    for point in POINTS:
        if point.kind == "setting":
            for value in point.values:
                Settings().apply({point.id: value})
