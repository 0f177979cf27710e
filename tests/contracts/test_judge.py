"""The judge's rules on journal entries made by hand: each catch, and each excuse, one at a time."""

from __future__ import annotations

import itertools
from typing import Any

from mockwise._domain.journal import Entry
from mockwise.contracts.adapter import Outcome
from mockwise.contracts.judge import REQUIRED_PARAMS, Judge, Operation

T0 = 1_800_000_000.0
ALEX, LENA = 101, 102
seqs = itertools.count(1)


def entry(**fields: Any) -> Entry:
    seq = next(seqs)
    fields.setdefault("at", T0)
    fields.setdefault("wall", T0 + seq)
    fields.setdefault("done", fields["wall"] + 0.01)
    fields.setdefault("status", 200)
    fields.setdefault("method", "POST" if fields.get("path", "/oauth/token") == "/oauth/token" else "GET")
    fields.setdefault("path", "/oauth/token")
    fields.setdefault("route", fields["path"])
    fields.setdefault("client_id", "partner")
    if fields["path"] == "/oauth/token":
        fields.setdefault("basic_auth", True)
        fields.setdefault("params", tuple(REQUIRED_PARAMS.get(fields.get("grant_type") or "", ())))
    return Entry(seq=seq, **fields)


def linked(judge: Judge, user: int, access: str, refresh: str, link: int, at: float = T0) -> None:
    """The client linked a customer: it holds `access` (used once) and `refresh`, of lineage `link`."""
    judge.observe([entry(grant_type="authorization_code", user_id=user, issued=access, at=at)], 1)
    judge.learn_links({access: link, refresh: link})
    judge.observe([call(access, user, at=at)], 1)


def call(token: str, user: int, **fields: Any) -> Entry:
    fields.setdefault("token_state", "valid")
    return entry(path="/v1/me", token=token, token_kind="user", user_id=user, **fields)


def refresh(token: str, user: int, **fields: Any) -> Entry:
    fields.setdefault("token_state", "valid")
    return entry(grant_type="refresh_token", token=token, token_kind="refresh", user_id=user, **fields)


def broken(judge: Judge) -> list[str]:
    return [v.obligation for v in judge.violations]


def test_an_unsupported_operation_counts_against_nothing() -> None:
    judge = Judge("partner", "http://localhost/cb")
    op = Operation("fund_transfer", 4, "l2", ALEX, Outcome.error("unsupported"), expect={"relink": True})
    judge.judge(op)
    assert judge.violations == [] and judge.unsupported == {"fund_transfer"}
    op = Operation("fund_transfer", 4, "l2", ALEX, Outcome.error("rejected"), expect={"relink": True})
    judge.judge(op)
    assert broken(judge) == ["RELINK-REPORTED"]


def test_refreshing_a_token_received_minutes_ago_is_waste() -> None:
    judge = Judge("partner", "http://localhost/cb")
    linked(judge, ALEX, "a1", "r1", 7)
    judge.observe([refresh("r1", ALEX, at=T0 + 600, issued="a2")], 2)
    assert broken(judge) == ["USER-REUSE"]
    assert "received 10 min before" in judge.violations[0].message


def test_refreshing_after_a_refusal_or_near_expiry_is_not() -> None:
    judge = Judge("partner", "http://localhost/cb")
    linked(judge, ALEX, "a1", "r1", 7)
    judge.observe([call("a1", ALEX, status=401, at=T0 + 60), refresh("r1", ALEX, at=T0 + 60, issued="a2")], 2)
    judge.observe([call("a2", ALEX, at=T0 + 60)], 3)
    judge.observe([refresh("r1", ALEX, at=T0 + 60 + 43000, issued="a3")], 4)  # 200 s before it expires
    assert judge.violations == []


def test_a_customer_s_call_with_another_customer_s_token() -> None:
    judge = Judge("partner", "http://localhost/cb")
    linked(judge, ALEX, "a1", "r1", 7)
    linked(judge, LENA, "b1", "s1", 8)
    mixed = [call("a1", ALEX)]
    judge.observe(mixed, 3)
    judge.judge(Operation("user_call", 3, "l3", LENA, Outcome.ok(), entries=mixed))
    assert broken(judge) == ["USER-OWN-TOKEN"]
    assert "presented another customer's token (user 101, not 102)" in judge.violations[0].message


def test_a_partner_call_with_a_customer_s_token() -> None:
    judge = Judge("partner", "http://localhost/cb")
    linked(judge, ALEX, "a1", "r1", 7)
    mixed = [entry(path="/v1/users/exists", token="a1", token_kind="user", user_id=ALEX)]
    judge.judge(Operation("partner_call", 3, entries=mixed, outcome=Outcome.ok()))
    assert broken(judge) == ["USER-OWN-TOKEN"]


def test_a_rotated_refresh_token_sent_again_names_why() -> None:
    judge = Judge("partner", "http://localhost/cb")
    linked(judge, ALEX, "a1", "r1", 7)
    later = T0 + 43000
    judge.observe([refresh("r1", ALEX, at=later, issued="a2")], 2)
    stale = refresh("r1", ALEX, at=later + 1, status=400, error="invalid_grant", token_state="superseded")
    stale.token_cause = "rotated"
    judge.observe([stale], 3)
    assert broken(judge) == ["USER-NO-STALE"]
    assert "the refresh_token that refresh returned was not kept" in judge.violations[0].message


def test_two_workers_refreshing_at_once() -> None:
    judge = Judge("partner", "http://localhost/cb")
    linked(judge, ALEX, "a1", "r1", 7)
    later = T0 + 43000
    first = refresh("r1", ALEX, at=later, issued="a2", wall=T0 + 100, done=T0 + 100.05)
    second = refresh("r1", ALEX, at=later, issued="a3", wall=T0 + 100.01, done=T0 + 100.06)
    stale = call("a2", ALEX, at=later, token_state="superseded", wall=T0 + 100.07)
    judge.observe([first, second, stale], 2, concurrency=2, batch_start=first.seq - 1)
    assert broken(judge) == ["USER-NO-STALE", "USER-NO-STALE"]
    assert "two workers refreshed this customer's token at once" in judge.violations[0].message
    assert "replaced by the other's refresh" in judge.violations[1].message


def test_a_token_is_late_after_the_expiry_it_was_told() -> None:
    # Legacy responses say only expires_in: 43199 s after it arrived
    judge = Judge("partner", "http://localhost/cb", absolute_expiry=False)
    linked(judge, ALEX, "a1", "r1", 7)
    judge.observe([call("a1", ALEX, at=T0 + 43198)], 2)
    assert judge.violations == []
    judge.observe([call("a1", ALEX, at=T0 + 43199)], 3)
    assert broken(judge) == ["USER-NO-EXPIRED"]
    # Current responses also say expires_at (the sandbox's instant): good until then
    judge = Judge("partner", "http://localhost/cb", absolute_expiry=True)
    linked(judge, ALEX, "a1", "r1", 7)
    judge.observe([call("a1", ALEX, at=T0 + 43199)], 2)
    assert judge.violations == []
    judge.observe([call("a1", ALEX, at=T0 + 43200)], 3)
    assert broken(judge) == ["USER-NO-EXPIRED"]


def test_a_token_that_died_early_on_the_sandbox_s_clock_alone_is_excused() -> None:
    judge = Judge("partner", "http://localhost/cb", absolute_expiry=False)
    linked(judge, ALEX, "a1", "r1", 7)
    judge.sandbox_clock_moved(43300)  # the client's clock did not move
    judge.observe([call("a1", ALEX, at=T0 + 43300, status=401, token_state="expired")], 2)
    assert judge.violations == []


def test_a_code_exchange_a_transient_failure_answered_is_no_exchange() -> None:
    """Issue 26: the sandbox answered 503 without acting; the retry is what RETRY-BOUNDED asks for,
    and the only exchange (docs/contracts.md, attempts whose outcome the client could not know)."""
    judge = Judge("partner", "http://localhost/cb")
    faulted = entry(grant_type="authorization_code", status=503, fault="server_error#f1")  # no code id
    again = entry(grant_type="authorization_code", token="code1", token_kind="authorization_code")
    judge.observe([faulted, again], 3)
    judge.judge(Operation("finish_link", 3, "l2", ALEX, Outcome.ok(), entries=[faulted, again]))
    assert broken(judge) == []
    assert judge.situations["CODE-ONCE"]["an exchange a transient failure answered"] == 1


def test_a_second_exchange_the_sandbox_acted_on_breaks_code_once() -> None:
    judge = Judge("partner", "http://localhost/cb")
    first = entry(grant_type="authorization_code", token="code1", token_kind="authorization_code", status=200)
    again = entry(grant_type="authorization_code", status=400, error="invalid_grant", reason="code_reused")
    judge.observe([first, again], 3)
    judge.judge(Operation("finish_link", 3, "l2", ALEX, Outcome.ok(), entries=[first, again]))
    assert broken(judge) == ["CODE-ONCE"]


def test_a_failed_operation_is_excused_only_by_a_breach_that_makes_wise_refuse() -> None:
    """A retry too soon (RETRY-AFTER) in the same step excuses nothing: WORKS is judged too; a
    stale token (USER-NO-STALE) for the same customer does, and is counted as the cause."""
    judge2 = Judge("partner", "http://localhost/cb")
    judge2.observe([], 4, user_id=ALEX)
    op2 = Operation("user_call", 4, "l2", ALEX, Outcome.error("rejected"), entries=[])
    op2.expect = {"works": True}
    judge2._fail("RETRY-AFTER", "too soon")
    judge2.judge(op2)
    judge3 = Judge("partner", "http://localhost/cb")
    judge3.observe([], 4, user_id=ALEX)
    judge3._fail("USER-NO-STALE", "a stale token")
    judge3.judge(op2)
    assert broken(judge3) == ["USER-NO-STALE"] and judge3.excused == {"USER-NO-STALE": 1}
    assert broken(judge2) == ["RETRY-AFTER", "WORKS"]


def test_situations_are_counted_and_near_misses_named() -> None:
    judge = Judge("partner", "http://localhost/cb")
    op = Operation("finish_link", 3, "l2", ALEX, Outcome.ok(), expect={"tamper": "case"})
    judge.judge(op)
    assert judge.situations["STATE-CHECKED"] == {"case": 1}
    assert "the issued state in another case" in judge.violations[0].message
