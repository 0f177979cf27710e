"""One run of the suites: a fresh tenant, the client under test, and every move either can make.

Stories (`mockwise.contracts.stories`) draw moves; `mockwise replay` and the shrinker read them
from a story; all call the methods of `World`, and after each one the judge reads what the sandbox
saw. Every move is written to `World.moves` (what a scenario file replays) and shown as one or more
`World.story` steps (what a counterexample reads like).
"""

from __future__ import annotations

import contextlib
import datetime
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

from mockwise._domain.journal import Entry
from mockwise.contracts.adapter import ClientConfig, NewUser, Outcome, WiseClient
from mockwise.contracts.clocks import ClientClock, NoClock, WaitedTooLong
from mockwise.contracts.judge import ACCESS_LIFETIME, Issued, Judge, Operation
from mockwise.testing._client import ControlPlaneError, SandboxClient, TenantClient

ClientFactory = Callable[[ClientConfig, ClientClock], WiseClient]
RETRY_AFTER = 1  # seconds: a 429's Retry-After in the suites; real time for some clients, so short
DELAY = 0.05  # seconds: the delay fault, and the overlap forced on racing refreshes
LINKABLE = {"alex": "alex.morgan@example.com", "lena": "lena.fischer@example.com"}
RENEWAL_POINT = -100  # seconds around an access token's expiry: where a client renews it
IMPOSTOR_SECONDS = 10.0  # real seconds a man in the middle stays, at most
SETTINGS = {
    # The sandbox is lenient where the judge is strict (client credentials in a form body are
    # accepted), so one bug shows up as one broken obligation rather than a cascade.
    "client_auth_in_body": True,
    # Fund transfers as a user are challenged, by SMS, so the SCA obligations are exercised.
    "sca_user_tokens": True,
    "sca_high_risk_challenges": "SMS",
    # Stories move clocks by days: expired tokens are remembered for a year, so every request
    # that carries one is journaled under this tenant and the judge sees it.
    "expired_token_memory": 365 * 86400,
}
#: Extra parameters a genuine redirect back may carry: a client must ignore them.
EXTRA_PARAMS = (("lang", "en"), ("source", "wise"))


class Gate:
    """Stories told side by side share the sandbox's TLS listeners, and a man in the middle answers
    every new connection while he is there: a move meeting him is made alone (`alone`), the
    others side by side (`shared`). A single story's gate never waits."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._moving = 0
        self._alone = False
        self._waiting = 0  # moves waiting to be alone: others wait for them, so they get their turn

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._alone and not self._waiting)
            self._moving += 1
        try:
            yield
        finally:
            with self._cond:
                self._moving -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            self._cond.wait_for(lambda: not self._alone and not self._moving)
            self._waiting -= 1
            self._alone = True
        try:
            yield
        finally:
            with self._cond:
                self._alone = False
                self._cond.notify_all()

    def around(self, action: str) -> contextlib.AbstractContextManager[None]:
        return self.alone() if action == "meet_impostor" else self.shared()


@dataclass
class UserModel:
    key: str
    kind: str  # "created" or "linked"
    email: str
    user_id: int | None = None
    held: bool = False  # the client answered ok for this user (and has not asked for a re-link since)
    registration_code_alive: bool = False
    links: set[int] = field(default_factory=set)  # the token lineages the client got for this customer


@dataclass
class Step:
    number: int
    action: str
    args: dict[str, Any] = field(default_factory=dict)
    outcome: str | None = None

    def line(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        shown = self.outcome if self.outcome is None or len(self.outcome) <= 90 else self.outcome[:89] + "…"
        result = f"  -> {shown}" if shown is not None else ""
        return f"{self.number:>3}. {self.action}({args}){result}"

    def as_json(self) -> dict[str, Any]:
        return {"action": self.action, "args": self.args, "outcome": self.outcome}


@dataclass
class Move:
    """One call of a `World` move method: what a scenario file replays."""

    action: str
    args: dict[str, Any] = field(default_factory=dict)
    created: str | None = None  # the customer key it made (create_user, link_user)
    steps: int = 0  # how many story steps it showed

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"action": self.action, "args": self.args}
        if self.created is not None:
            data["created"] = self.created
        return data


class World:
    def __init__(
        self,
        control: SandboxClient,
        endpoints: dict[str, str],
        make_client: ClientFactory,
        clock: ClientClock | None = None,
        *,
        profile: str = "wise",
        fidelity: dict[str, Any] | None = None,
        impostor: Any = None,
        redirect_query: bool = False,
        gate: Gate | None = None,
    ) -> None:
        self.fidelity = dict(fidelity or {})  # the sandbox settings this story runs with
        self.gate = gate or Gate()
        self.redirect_query = redirect_query  # the registered redirect URI has a query string (§3)
        self.tenant = control.create_tenant(fidelity={**SETTINGS, **self.fidelity})
        self.now = self.tenant.clock.freeze()  # the tenant's time: only the suite moves it
        client: Any = self.tenant.client  # the seeded client's JSON, or a ClientRecord
        if not endpoints.get("mtls_api_url") or redirect_query:
            # no mTLS host to reach (a partner without enforced mTLS), or another redirect URI
            uris = [client["redirect_uris"][0] + "?partner=mockwise&v=2"] if redirect_query else None
            client = self.tenant.add_client(
                name=client["name"],
                redirect_uris=uris or client["redirect_uris"],
                mtls_enforced=bool(endpoints.get("mtls_api_url")),
            )
        self._files = tempfile.TemporaryDirectory(prefix="mockwise-client-")
        cert = key = ""
        if endpoints.get("mtls_api_url"):  # the partner's certificate, from the Developer Hub (§6)
            cert, key = self.tenant.certificate_files(client["client_id"], self._files.name)
        self.config = ClientConfig(
            api_url=endpoints["api_url"],
            mtls_api_url=endpoints.get("mtls_api_url", ""),
            authorize_url=endpoints["authorize_url"],
            client_id=client["client_id"],
            client_secret=client["client_secret"],
            redirect_uri=client["redirect_uris"][0],
            ca_cert=endpoints.get("ca_cert", ""),
            client_cert=cert,
            client_key=key,
        )
        self.clock: ClientClock = clock or NoClock()
        self.clock.start()
        self.client = make_client(self.config, self.clock)
        self.judge = Judge(
            self.config.client_id,
            self.config.redirect_uri,
            profile,
            retry_after=RETRY_AFTER,
            mtls=bool(self.config.mtls_api_url),
            absolute_expiry=self.fidelity.get("token_response_fields", "current") == "current",
        )
        self.impostor = impostor
        self.users: dict[str, UserModel] = {}
        self.story: list[Step] = []
        self.moves: list[Move] = []
        self.pending_secret: str | None = None
        self._cursor = 0
        self._counter = 0
        self._depth = 0  # moves made inside a move (meet_impostor's call) are not moves of their own
        self._tokens: list[dict[str, Any]] | None = None  # the sandbox's token list, while current

    def close(self) -> None:
        # The clock first: a client process goes back to its pool on close, and the next story,
        # perhaps already waiting for it, moves that same clock.
        try:
            self.clock.stop()
        finally:
            try:
                self.client.close()
            finally:
                if self.impostor is not None and self.impostor.active:
                    self.impostor.set(False)
                self._files.cleanup()

    # Bookkeeping ------------------------------------------------------------------------------

    def _move(self, action: str, **args: Any) -> Move | None:
        if self._depth:
            return None
        move = Move(action, args)
        self.moves.append(move)
        return move

    def _step(self, action: str, **args: Any) -> Step:
        step = Step(len(self.story) + 1, action, args)
        self.story.append(step)
        if self.moves and not self._depth:
            self.moves[-1].steps += 1
        return step

    def _new_entries(
        self, step: Step, concurrency: int = 1, batch_start: int = 0, model: UserModel | None = None
    ) -> list[Entry]:
        """What the sandbox journaled since the last look, shown to the judge."""
        entries = self.tenant.journal.entries(since=self._cursor)
        if entries:
            self._cursor = entries[-1].seq
        if any(e.status == 200 and e.issued for e in entries):
            self._tokens = None  # a grant issued tokens, and superseded or rotated others
        self.judge.observe(
            entries,
            step.number,
            concurrency=concurrency,
            batch_start=batch_start,
            links=frozenset(model.links) if model is not None else frozenset(),
            user_id=model.user_id if model is not None else None,
        )
        return entries

    def tokens(self) -> list[dict[str, Any]]:
        """The sandbox's tokens (ids, lineages, states), fetched again only after a grant or a
        server move changed them; expiry, which only the clock decides, is worked out here."""
        if self._tokens is None:
            self._tokens = self.tenant.tokens()
            for token in self._tokens:
                token["expires"] = datetime.datetime.fromisoformat(token["expires_at"]).timestamp()
            self.judge.learn_links({t["id"]: t["link"] for t in self._tokens if t["link"] is not None})
        return [
            {**t, "state": "expired"} if t["state"] == "valid" and t["expires"] <= self.now else t
            for t in self._tokens
        ]

    def _alive(self, model: UserModel) -> tuple[bool, bool]:
        """(a refresh token alive, an access token alive), among the lineages the client got."""
        live = [t for t in self.tokens() if t["state"] == "valid" and t["link"] in model.links]
        return any(t["kind"] == "refresh" for t in live), any(t["kind"] == "user" for t in live)

    def _track_links(self, model: UserModel, entries: list[Entry], grant: str) -> None:
        """Remember the lineages `grant` opened for this customer during an operation."""
        issued = {
            e.issued
            for e in entries
            if e.status == 200 and e.grant_type == grant and e.issued and e.user_id == model.user_id
        }
        if issued:
            model.links |= {t["link"] for t in self.tokens() if t["id"] in issued and t["link"]}

    def _note_ended(self) -> None:
        self._tokens = None
        self.judge.tokens_ended(t["id"] for t in self.tokens() if t["state"] == "revoked")

    def _begin(self, op: Operation, model: UserModel | None = None) -> None:
        if model is not None:
            self.tokens()  # the lineages of the tokens the client holds, for the judge
            op.user_id, op.links = model.user_id, frozenset(model.links)
        self.judge.begin(op, self.now)

    def _run(
        self, step: Step, op: Operation, call: Callable[[], Outcome], model: UserModel | None
    ) -> Outcome:
        self._begin(op, model)
        outcome = _guarded(call)
        step.outcome = str(outcome)
        op.outcome = outcome
        op.entries = self._new_entries(step, model=model)
        return outcome

    # Client moves -------------------------------------------------------------------------------

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
        step.outcome = str(outcome)
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

    def link_user(
        self,
        person: str,
        tamper: str | None = None,
        dob: str = "own",
        profile: str = "personal",
        extra: bool = False,
    ) -> str:
        """The customer links their Wise account: the client builds the authorize URL, the customer
        logs in and approves `profile`, and the suite brings the redirect back, perhaps with its
        `state` tampered (`mockwise.contracts.judge.TAMPERINGS`) or extra parameters. `dob`: the partner's
        record of the customer's date of birth, theirs ("own") or a near miss."""
        args: dict[str, Any] = {"person": person}
        args |= {k: v for k, v in (("tamper", tamper), ("profile", profile), ("extra", extra)) if v}
        if dob != "own":
            args["dob"] = dob
        if profile == "personal":
            args.pop("profile")
        move = self._move("link_user", **args)
        self._counter += 1
        key = f"l{self._counter}"
        if move is not None:
            move.created = key
        email = LINKABLE[person]
        seeded = next(u for u in self.tenant.users if u["email"] == email)  # as seeded
        date_of_birth = near_miss(seeded["date_of_birth"], dob)
        step = self._step("start_link", key=key, person=person, date_of_birth=date_of_birth)
        op = Operation("start_link", step.number, key)
        url = _guarded_url(lambda: self.client.start_link(key, date_of_birth))
        if url is None:
            step.outcome = "error:unsupported"
            op.outcome = Outcome.error("unsupported")
            self.judge.judge(op)
            return key
        op.url = url
        op.entries = self._new_entries(step)
        step.outcome = url
        self.judge.judge(op)
        chosen = next((p for p in seeded["profiles"] if p["type"] == profile), None)
        chosen = chosen or next(p for p in seeded["profiles"] if p["type"] == "personal")
        callback = scripted_approval(self.tenant, url, seeded, chosen["id"])
        if callback is None:
            return key  # the authorize page refused to redirect (REDIRECT-EXACT says why)
        if tamper:
            callback = tampered(callback, tamper)
        elif extra:
            callback = _with_extra(callback)
        finish_args = {"key": key} | {k: v for k, v in args.items() if k in ("tamper", "profile", "extra")}
        finish = self._step("finish_link", **finish_args)
        personal = chosen["type"] == "personal"
        expect = {
            "tamper": tamper,
            "wrong_dob": dob if dob != "own" and personal else None,
            # Wise linking-accounts page: a business is checked by other means; whether a link to one
            # succeeds is the client's decision, so only personal links must work
            "works": self.pending_secret is None and personal,
        }
        op = Operation("finish_link", finish.number, key, user_id=seeded["id"], expect=expect)
        self.judge.begin(op, self.now)
        outcome = _guarded(lambda: self.client.finish_link(key, callback))
        finish.outcome = str(outcome)
        op.outcome = outcome
        op.entries = self._new_entries(finish, model=UserModel(key, "linked", email, seeded["id"]))
        self.judge.judge(op)
        if outcome.status == "ok" and not tamper and (dob == "own" or not personal):
            model = UserModel(key, "linked", email, seeded["id"], held=True)
            self._track_links(model, op.entries, "authorization_code")
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
        step.outcome = ", ".join(str(o) for o in outcomes)
        entries = self._new_entries(step, concurrency=workers, batch_start=batch_start, model=model)
        expected = expect(entries)
        for outcome in outcomes:
            op = Operation(name, step.number, key, outcome=outcome, entries=entries, concurrent=True)
            if model is not None:
                op.user_id, op.links = model.user_id, frozenset(model.links)
            op.expect = expected
            self.judge.judge(op)
        return outcomes, entries

    def _expect(
        self, model: UserModel | None, alive: tuple[bool, bool], entries: list[Entry]
    ) -> dict[str, Any]:
        """What the operation must answer. With a live refresh token (or registration code) it must
        work; with nothing live it must ask for a re-link; with only an access token left (its
        lineage was replaced, §2.5) either answer is right."""
        if model is None or not model.held:
            return {}
        refresh_alive, access_alive = alive
        # An invalid_grant fault told the client its refresh token is dead: it must drop it (§2.5),
        # so only a live registration code can still renew.
        faulted_grant = any(e.reason == "fault" and e.grant_type == "refresh_token" for e in entries)
        renewable = (refresh_alive and not faulted_grant) or model.registration_code_alive
        dead = not renewable and (faulted_grant or not access_alive)
        deployed = self.pending_secret is None  # without its secret the client cannot even ask
        return {
            "works": renewable and deployed,
            "relink": dead and deployed,
            "registration_code_alive": model.kind == "created" and model.registration_code_alive,
            "refresh_dead": not refresh_alive or faulted_grant,
            "deployed": deployed,
        }

    @staticmethod
    def _learn(model: UserModel, outcome: Outcome, expect: dict[str, Any]) -> None:
        """Whether the client still holds this customer. Once their tokens are gone it does not,
        whatever it answered (a wrong answer is judged once, by RELINK-REPORTED)."""
        if outcome.status == "relink_needed" or expect.get("relink"):
            model.held = False
        elif outcome.status == "ok":
            model.held = True

    # Server moves -------------------------------------------------------------------------------

    def advance(self, seconds: float, both: bool = True) -> None:
        self._move("advance", seconds=seconds, both=both)
        self._step("advance", seconds=seconds, both=both)
        self._move_clocks(seconds, both)

    def advance_to_expiry(self, offset: float, both: bool = True, whose: str = "partner") -> None:
        """Move to `offset` seconds around the expiry of the newest access token of the partner
        ("partner") or of a customer (their key)."""
        self._move("advance_to_expiry", offset=offset, both=both, whose=whose)
        model = self.users.get(whose)
        step = self._step("advance_to_expiry", offset=offset, both=both, whose=whose)
        if whose != "partner" and model is None:
            step.outcome = "no such customer"
            return
        delta = self._to_expiry_of(model, offset, both)
        step.outcome = "no token yet" if delta is None else f"moved {max(delta, 0):.0f} s"

    def _to_expiry_of(self, model: UserModel | None, offset: float, both: bool = True) -> float | None:
        """Move the clocks to `offset` seconds around the expiry of the partner's (or this
        customer's) newest access token; the move wanted, None without a token."""
        if model is None:
            latest = self.judge.newest("client_credentials", None)
        else:
            self.tokens()
            latest = self.judge.newest("user", frozenset(model.links))
        return None if latest is None else self._to_expiry(latest, offset, both)

    def _to_expiry(self, latest: Issued, offset: float, both: bool) -> float:
        """Move the clocks forward to `offset` seconds around `latest`'s expiry (never back);
        the move wanted, negative when already past that point."""
        delta = latest.at + ACCESS_LIFETIME + offset - self.now
        if delta > 0:
            self._move_clocks(delta, both)
        return delta

    def _move_clocks(self, seconds: float, both: bool) -> None:
        self.now = self.tenant.clock.advance(seconds)
        if both and getattr(self.clock, "movable", False):
            self.clock.shift(seconds)
        else:
            self.judge.sandbox_clock_moved(seconds)

    def revoke(self, cause: str, user: str | None = None) -> None:
        """A token dies early, as on Wise: revoke-access, enhanced-security, breach, change-email."""
        self._move("revoke", cause=cause, **({"user": user} if user is not None else {}))
        model = self.users.get(user) if user is not None else None
        if user is not None and model is None:
            return
        step = self._step("revoke", cause=cause, user=user)
        if cause == "breach":
            self.tenant.breach(self.config.client_id)
        elif model is not None and cause == "revoke-access":
            self.tenant.revoke_access(model.email, self.config.client_id)
        elif model is not None and cause == "enhanced-security":
            self.tenant.enable_enhanced_security(model.email)
        elif model is not None and cause == "change-email":
            old_email, new_email = model.email, f"changed.{step.number}.{model.email}"
            self.tenant.change_email(old_email, new_email)
            for same in self.users.values():  # a person linked twice is one Wise account
                if same.email == old_email:
                    same.email = new_email
                    same.registration_code_alive = False  # the user took the account over
        self._note_ended()

    def reclaim(self, user: str) -> None:
        self._move("reclaim", user=user)
        model = self.users.get(user)
        if model is None or model.kind != "created":
            return  # only an account a partner created can be reclaimed
        self._step("reclaim", user=user)
        self.tenant.reclaim(model.email)
        self._tokens = None
        model.registration_code_alive = False

    def rotate_secret(self, deploy: bool) -> None:
        """A new client secret; the partner deploys it at once, or later (`deploy_secret`)."""
        self._move("rotate_secret", deploy=deploy)
        self._step("rotate_secret", deploy=deploy)
        secret = self.tenant.rotate_secret(self.config.client_id)
        self._note_ended()
        if deploy:
            self.client.update_client_secret(secret)
            self.pending_secret = None
        else:
            self.pending_secret = secret

    def deploy_secret(self) -> None:
        self._move("deploy_secret")
        if self.pending_secret is None:
            return
        self._step("deploy_secret")
        self.client.update_client_secret(self.pending_secret)
        self.pending_secret = None

    def meet_impostor(self, user: str | None = None) -> None:
        """A man in the middle presents a certificate from an unknown CA while the partner (or the
        customer `user`) does one operation: a careful client refuses to talk to it."""
        self._move("meet_impostor", **({"user": user} if user is not None else {}))
        if self.impostor is None or (user is not None and user not in self.users):
            return
        self._step("meet_impostor", user=user)
        self.impostor.set(True)
        self.judge.impostor = True
        self._depth += 1
        # he leaves after a while even if the client keeps trying (a retry loop without end)
        leaves = threading.Timer(IMPOSTOR_SECONDS, self.impostor.set, (False,))
        leaves.start()
        try:
            if user is None:
                self.partner_call()
            else:
                self.user_call(user)
        finally:
            leaves.cancel()
            leaves.join()  # a leave already under way drops connections now, not once others go on
            self._depth -= 1
            if self.impostor.active:
                self.impostor.set(False)
            self.judge.impostor = False

    def fault(self, kind: str, path: str | None = None, times: int = 1) -> None:
        """Arm one fault for the next matching request(s): `times` in a row is an outage."""
        self._move("fault", kind=kind, path=path, **({"times": times} if times != 1 else {}))
        self._step("fault", kind=kind, path=path, **({"times": times} if times != 1 else {}))
        scope: dict[str, Any] = {"times": times}
        if path is not None and kind not in ("invalid_grant", "invalid_token"):
            scope["path"] = path
        if kind == "rate_limited":
            scope["retry_after"] = RETRY_AFTER
        elif kind == "delay":
            scope["seconds"] = DELAY
        elif kind == "server_error":
            scope["status"] = 503
        self.tenant.faults.add(kind, **scope)

    # Replay -------------------------------------------------------------------------------------

    def replay(self, moves: list[dict[str, Any]], stop: Callable[[], bool] | None = None) -> None:
        """Make the moves of a story (`Move.as_json()` items) in order. Customers are named by the
        keys this run gives them (a shortened story numbers them differently); a move for a
        customer the story no longer makes is made for nobody. `stop`: asked after each move."""
        keys: dict[str, str] = {}
        for item in moves:
            action, args = item["action"], dict(item.get("args", {}))
            for name in ("user", "whose"):
                if isinstance(args.get(name), str) and args[name] != "partner":
                    args[name] = keys.get(args[name], f"gone-{args[name]}")
            with self.gate.around(action):
                made = getattr(self, action)(**args)
            if item.get("created") and isinstance(made, str):
                keys[item["created"]] = made
            if stop is not None and stop():
                return


MOVES = frozenset({
    "partner_call", "partner_calls_concurrently", "create_user", "link_user", "user_call",
    "fund_transfer", "user_calls_concurrently", "advance", "advance_to_expiry", "revoke", "reclaim",
    "rotate_secret", "deploy_secret", "meet_impostor", "fault",
})  # fmt: skip


def moves_of_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The moves of a scenario file written before moves were recorded (version 1): its steps,
    with start_link/finish_link joined into link_user and the old argument names."""
    moves: list[dict[str, Any]] = []
    for index, item in enumerate(steps):
        action, args = item["action"], dict(item.get("args", {}))
        if action == "start_link":
            finish = next((s for s in steps[index + 1 :] if s["action"] == "finish_link"), None)
            tamper = None
            if finish and finish["args"].get("key") == args["key"]:
                tamper = finish["args"].get("tamper") or (
                    "foreign" if finish["args"].get("tampered") else None
                )
            link: dict[str, Any] = {"person": args["person"]}
            if tamper:
                link["tamper"] = tamper
            if args.get("date_of_birth") == "1970-01-01":
                link["dob"] = "other"
            moves.append({"action": "link_user", "args": link, "created": args["key"]})
        elif action == "create_user":
            moves.append({"action": "create_user", "args": {}, "created": args.get("key")})
        elif action in MOVES:
            if "near_expiry" in args:
                args["at"] = RENEWAL_POINT if args.pop("near_expiry") else None
                if args["at"] is None:
                    del args["at"]
            moves.append({"action": action, "args": args})
    return moves


def near_miss(date_of_birth: str, kind: str) -> str:
    """The partner's record of a date of birth: the customer's own ("own"), or one a careless
    comparison mistakes for it (a day, a month or a year out), or someone else's ("other")."""
    born = datetime.date.fromisoformat(date_of_birth)
    if kind == "day":
        return (born + datetime.timedelta(days=1)).isoformat()
    if kind == "month":  # day and month swapped when that is a date, else the next month
        swapped = born.day <= 12 and born.day != born.month
        return (
            born.replace(month=born.day, day=born.month)
            if swapped
            else born.replace(month=born.month % 12 + 1, day=min(born.day, 28))
        ).isoformat()
    if kind == "year":
        return born.replace(year=born.year - 1, day=min(born.day, 28)).isoformat()
    if kind == "other":
        return "1970-01-01"
    return date_of_birth


def tampered(url: str, how: str) -> str:
    """The redirect back with its `state` not the one the client issued (`judge.TAMPERINGS`)."""
    parts = urlparse(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    issued = next((v for k, v in pairs if k == "state"), "")
    rest = [(k, v) for k, v in pairs if k != "state"]
    foreign = "tampered-" + "x" * 24
    values = {
        "foreign": [foreign],
        "prefix": [issued[: max(1, len(issued) // 2)] + "Z" * (len(issued) - max(1, len(issued) // 2) or 1)],
        "suffix": ["Z" * (len(issued) // 2 or 1) + issued[len(issued) // 2 :]],
        "one-char": [_one_char(issued)],
        "case": [issued.swapcase()],
        "truncated": [issued[:-1]],
        "empty": [""],
        "missing": [],
        "repeated": [foreign, issued, foreign],
    }[how]
    if how not in ("missing", "repeated", "empty") and values[0] == issued:
        values = [_one_char(issued) if issued else foreign]  # no letters to change case: one character
    return parts._replace(query=urlencode(rest + [("state", v) for v in values])).geturl()


def _one_char(state: str) -> str:
    if not state:
        return "x"
    middle = len(state) // 2
    return state[:middle] + ("A" if state[middle] != "A" else "B") + state[middle + 1 :]


def _with_extra(url: str) -> str:
    parts = urlparse(url)
    return parts._replace(query=parts.query + "&" + urlencode(EXTRA_PARAMS)).geturl()


def scripted_approval(
    tenant: TenantClient, authorize_url: str, person: dict[str, Any], profile_id: int
) -> str | None:
    """The customer logs in on the authorize page and approves; None when the page will not
    redirect (an unknown client or an unregistered redirect_uri shows an error page, §3)."""
    try:
        redirect = tenant.link(
            authorize_url, email=person["email"], password=person["password"], profile_id=profile_id
        )
    except ControlPlaneError:
        return None
    return redirect or None


def _guarded(call: Callable[[], Outcome]) -> Outcome:
    """A client that raises instead of reporting is judged on what it reported: an error."""
    try:
        outcome = call()
    except WaitedTooLong as stopped:  # an endless retry loop, stopped in its sleep
        return Outcome("error", "hung", {"stopped": str(stopped)})
    except NotImplementedError:
        return Outcome.error("unsupported")
    except Exception as exc:
        return Outcome("error", "exception", {"exception": f"{type(exc).__name__}: {exc}"[:300]})
    return outcome if isinstance(outcome, Outcome) else Outcome.from_json(outcome)


def _guarded_url(call: Callable[[], str]) -> str | None:
    """start_link's URL; None when the client does not offer linking."""
    try:
        return str(call())
    except NotImplementedError:
        return None
    except Exception as exc:
        return f"about:blank#start_link-raised-{type(exc).__name__}"
