"""The partner's business operations, as a story asks the client under test for them: calls as the
partner and as a customer (one worker or several at once), creating a customer, funding a transfer."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mockwise._domain.journal import Entry
from mockwise.contracts.adapter import NewUser, Outcome
from mockwise.contracts.judge import Operation
from mockwise.contracts.moves.base import (
    DELAY,
    Step,
    UserModel,
    WorldState,
    _guarded,
)
from mockwise.testing._client import ControlPlaneError


class PartnerMoves(WorldState):
    # Client moves -----------------------------------------------------------------------------

    def partner_call(self, at: int | None = None) -> Outcome:
        """One call as the partner; `at`: first move to that many seconds around the expiry of
        the partner's newest token."""
        self._move("partner_call", **({"at": at} if at is not None else {}))
        if at is not None:
            self._to_expiry_of(None, at)
        step = self._step("partner_call", **({"at": at} if at is not None else {}))
        op = Operation("partner_call", step.number, expect={"works": self.pending_secret is None})
        outcome = self._run(step, op, self.client.partner_call, None)
        self.judge.judge(op)
        return outcome

    def partner_calls_concurrently(self, workers: int, at: int | None = None) -> list[Outcome]:
        args: dict[str, Any] = {"workers": workers, **({"at": at} if at is not None else {})}
        self._move("partner_calls_concurrently", **args)
        if at is not None:
            self._to_expiry_of(None, at)
        step = self._step("partner_calls_concurrently", **args)
        self.judge.workers(workers)
        expect = {"works": self.pending_secret is None}
        outcomes, _ = self._concurrently(
            step, "partner_call", None, self.client.partner_call, workers, lambda entries: expect
        )
        return outcomes

    def create_user(self) -> str:
        move = self._move("create_user")
        self._counter += 1
        key = f"c{self._counter}"
        if move is not None:
            move.created = key
        user = NewUser(
            key,
            f"customer{self._counter}@example.com",
            f"registration-code-of-customer-{self._counter:04d}-{self.tenant.id[-8:]}",
        )
        step = self._step("create_user", key=key)
        op = Operation("create_user", step.number, key, expect={"works": self.pending_secret is None})
        self._begin(op)
        outcome = _guarded(lambda: self.client.create_user(user))
        step.outcome = outcome.shown()
        op.outcome = outcome
        op.entries = self._new_entries(step)
        user_id = next(
            (e.user_id for e in op.entries if e.grant_type == "registration_code" and e.user_id), None
        )
        if user_id is None and outcome.kind != "unsupported":
            found = next((u for u in self.tenant.describe()["users"] if u["email"] == user.email), None)
            user_id = found["id"] if found is not None else None
        op.user_id = user_id
        self.judge.judge(op)
        if user_id is not None:
            held = outcome.status == "ok"
            model = UserModel(key, "created", user.email, user_id, held, registration_code_alive=True)
            self._track_links(model, op.entries, "registration_code")
            self.users[key] = model
        return key

    def user_call(self, user: str, at: int | None = None) -> Outcome | None:
        """One call as the customer `user` (their key); `at`: first move both clocks to that many
        seconds around the expiry of their newest access token (Wise user-tokens page: renew before it)."""
        self._move("user_call", user=user, **({"at": at} if at is not None else {}))
        model = self.users.get(user)
        if model is None:
            return None  # the client never got this user (its creation or linking failed)
        if at is not None:
            self._to_expiry_of(model, at)
        step = self._step("user_call", user=user, **({"at": at} if at is not None else {}))
        alive = self._alive(model)
        op = Operation("user_call", step.number, user)
        outcome = self._run(step, op, lambda: self.client.user_call(user), model)
        op.expect = self._expect(model, alive, op.entries)
        if model.kind == "created":
            self._track_links(model, op.entries, "registration_code")
        self.judge.judge(op)
        self._learn(model, outcome, op.expect)
        return outcome

    def fund_transfer(self, user: str) -> Outcome | None:
        """An SCA-protected action as a linked user (§5.5): challenged, cleared, sent again."""
        self._move("fund_transfer", user=user)
        model = self.users.get(user)
        funds = getattr(self.client, "fund_transfer", None)  # optional in the adapter
        if model is None or model.kind != "linked":
            return None  # created users have no profile to fund from until they make one
        step = self._step("fund_transfer", user=user)
        if funds is None or "fund_transfer" in self.judge.unsupported:
            step.outcome = "error:unsupported"
            self.judge.unsupported.add("fund_transfer")
            return Outcome.error("unsupported")
        alive = self._alive(model)
        op = Operation("fund_transfer", step.number, user)
        outcome = self._run(step, op, lambda: funds(user), model)
        op.expect = self._expect(model, alive, op.entries)
        self.judge.judge(op)
        self._learn(model, outcome, op.expect)
        return outcome

    def user_calls_concurrently(self, user: str, workers: int, at: int | None = None) -> list[Outcome]:
        """Several workers act for one customer at once. With `at` (near expiry), every worker sees
        the token due for renewal; a short delay on refreshes makes racing refreshes overlap, as in
        production."""
        args: dict[str, Any] = {"user": user, "workers": workers, **({"at": at} if at is not None else {})}
        self._move("user_calls_concurrently", **args)
        model = self.users.get(user)
        if model is None:
            return []
        if at is not None:
            self._to_expiry_of(model, at)
        # Refreshes answer a little late, as in production: workers that race to refresh overlap
        # (USER-NO-STALE), and one that refreshes after another did is merely wasteful (USER-REUSE).
        overlap = self.tenant.faults.add("delay", grant_type="refresh_token", seconds=DELAY, times=workers)
        step = self._step("user_calls_concurrently", **args)
        alive = self._alive(model)
        expected: dict[str, Any] = {}

        def expect(entries: list[Entry]) -> dict[str, Any]:
            expected.update(self._expect(model, alive, entries))
            return expected

        outcomes, entries = self._concurrently(
            step, "user_call", model, lambda: self.client.user_call(user), workers, expect
        )
        with contextlib.suppress(ControlPlaneError):  # only ours: the story's own faults stay armed
            self.tenant.faults.remove(overlap["id"])  # (gone already if every worker refreshed)
        if model.kind == "created":
            self._track_links(model, entries, "registration_code")
        for outcome in outcomes:
            self._learn(model, outcome, expected)
        return outcomes

    def _concurrently(
        self,
        step: Step,
        name: str,
        model: UserModel | None,
        call: Callable[[], Outcome],
        workers: int,
        expect: Callable[[list[Entry]], dict[str, Any]],
    ) -> tuple[list[Outcome], list[Entry]]:
        """`workers` threads make `call` at once; each outcome is judged as operation `name`
        against what `expect` says of the entries. The outcomes, and the entries."""
        barrier = threading.Barrier(workers)
        batch_start = self._cursor
        key = model.key if model is not None else None
        self._begin(Operation(name, step.number, key), model)

        def run(_: int) -> Outcome:
            barrier.wait(timeout=10)
            return _guarded(call)

        with ThreadPoolExecutor(workers) as pool:
            outcomes = list(pool.map(run, range(workers)))
        step.outcome = ", ".join(o.shown() for o in outcomes)
        entries = self._new_entries(step, concurrency=workers, batch_start=batch_start, model=model)
        expected = expect(entries)
        for outcome in outcomes:
            op = Operation(name, step.number, key, outcome=outcome, entries=entries, concurrent=True)
            if model is not None:
                op.user_id, op.links = model.user_id, frozenset(model.links)
            op.expect = expected
            self.judge.judge(op)
        return outcomes, entries
