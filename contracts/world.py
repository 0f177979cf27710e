"""One run of the suites: a fresh tenant, the client under test, and every move either can make.

The state machine (`contracts.machine`) draws moves; `mockwise replay` reads them from a scenario
file; both call the methods of `World`, and after each one the judge reads what the sandbox saw.
Every move is written to `World.story`, which is what a counterexample shows and what a scenario
file replays.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from contracts.adapter import ClientConfig, NewUser, Outcome, WiseClient
from contracts.clocks import ClientClock, NoClock
from contracts.judge import ACCESS_LIFETIME, Issued, Judge, Operation
from mockwise.client import ControlPlaneError, SandboxClient, TenantClient
from mockwise.domain.journal import Entry

ClientFactory = Callable[[ClientConfig, ClientClock], WiseClient]
RETRY_AFTER = 1  # seconds: a 429's Retry-After in the suites; real time, so kept short
DELAY = 0.05  # seconds: the delay fault, and the overlap forced on racing refreshes
LINKABLE = {"alex": "alex.morgan@example.com", "lena": "lena.fischer@example.com"}
WRONG_DOB = "1970-01-01"  # what a `wrong_dob` link says: no seeded person's date of birth
RENEWAL_POINT = -100  # seconds around an access token's expiry: where a client renews it


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
    ) -> None:
        # The sandbox is lenient where the judge is strict (client credentials in a form body are
        # accepted), so one bug shows up as one broken obligation rather than a cascade.
        self.fidelity = dict(fidelity or {})  # the token-shape variant this story runs with
        # Fund transfers as a user are challenged, by SMS, so the SCA obligations are exercised.
        # Stories move clocks by days: expired tokens are remembered for a year, so every request
        # that carries one is journaled under this tenant and the judge sees it.
        settings = {
            "client_auth_in_body": True,
            "sca_user_tokens": True,
            "sca_high_risk_challenges": "SMS",
            "expired_token_memory": 365 * 86400,
            **self.fidelity,
        }
        self.tenant = control.create_tenant(fidelity=settings)
        self.tenant.clock.freeze()
        client = self.tenant.client
        if not endpoints.get("mtls_api_url"):  # no mTLS host to reach: a partner without enforced mTLS
            client = self.tenant.add_client(name=client["name"], redirect_uris=client["redirect_uris"])
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
        )
        self.impostor = impostor
        self.users: dict[str, UserModel] = {}
        self.story: list[Step] = []
        self.pending_secret: str | None = None
        self._cursor = 0
        self._counter = 0

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            self.clock.stop()
            if self.impostor is not None and self.impostor.active:
                self.impostor.set(False)
            self._files.cleanup()

    # Bookkeeping ------------------------------------------------------------------------------

    def _step(self, action: str, **args: Any) -> Step:
        step = Step(len(self.story) + 1, action, args)
        self.story.append(step)
        return step

    def _new_entries(self, step: Step, concurrency: int = 1, batch_start: int = 0) -> list[Entry]:
        """What the sandbox journaled since the last look, shown to the judge."""
        entries = self.tenant.journal.entries(since=self._cursor)
        if entries:
            self._cursor = entries[-1].seq
        self.judge.observe(entries, step.number, concurrency=concurrency, batch_start=batch_start)
        return entries

    def _alive(self, model: UserModel) -> tuple[bool, bool]:
        """(a refresh token alive, an access token alive), among the lineages the client got."""
        live = [t for t in self.tenant.tokens(state="valid") if t["link"] in model.links]
        return any(t["kind"] == "refresh" for t in live), any(t["kind"] == "user" for t in live)

    def _track_links(self, model: UserModel, entries: list[Entry], grant: str) -> None:
        """Remember the lineages `grant` opened for this customer during an operation."""
        issued = {e.issued for e in entries if e.status == 200 and e.grant_type == grant and e.issued}
        if grant == "registration_code":
            issued = {
                e.issued for e in entries if e.issued and e.grant_type == grant and e.user_id == model.user_id
            }
        if issued:
            model.links |= {t["link"] for t in self.tenant.tokens() if t["id"] in issued and t["link"]}

    def _note_ended(self) -> None:
        self.judge.tokens_ended(t["id"] for t in self.tenant.tokens(state="revoked"))

    def _run(self, step: Step, op: Operation, call: Callable[[], Outcome]) -> Outcome:
        outcome = _guarded(call)
        step.outcome = str(outcome)
        op.outcome = outcome
        op.entries = self._new_entries(step)
        return outcome

    # Client moves -------------------------------------------------------------------------------

    def partner_call(self) -> Outcome:
        step = self._step("partner_call")
        op = Operation("partner_call", step.number, expect={"works": self.pending_secret is None})
        outcome = self._run(step, op, self.client.partner_call)
        self.judge.judge(op)
        return outcome

    def partner_calls_concurrently(self, workers: int) -> list[Outcome]:
        step = self._step("partner_calls_concurrently", workers=workers)
        self.judge.workers(workers)
        expect = {"works": self.pending_secret is None}
        outcomes, _ = self._concurrently(
            step, "partner_call", None, self.client.partner_call, workers, lambda entries: expect
        )
        return outcomes

    def create_user(self) -> str:
        self._counter += 1
        key = f"c{self._counter}"
        user = NewUser(
            key, f"customer{self._counter}@example.com", f"registration-code-of-customer-{self._counter:04d}"
        )
        step = self._step("create_user", key=key)
        op = Operation("create_user", step.number, key, expect={"works": self.pending_secret is None})
        outcome = self._run(step, op, lambda: self.client.create_user(user))
        self.judge.judge(op)
        created = next((u for u in self.tenant.describe()["users"] if u["email"] == user.email), None)
        if created is not None:
            held = outcome.status == "ok"
            model = UserModel(key, "created", user.email, created["id"], held, registration_code_alive=True)
            self._track_links(model, op.entries, "registration_code")
            self.users[key] = model
        return key

    def link_user(self, person: str, tamper_state: bool = False, wrong_dob: bool = False) -> str:
        """The customer links their Wise account: the client builds the authorize URL, the customer
        logs in and approves, and the suite brings the redirect back (perhaps tampered)."""
        self._counter += 1
        key = f"l{self._counter}"
        email = LINKABLE[person]
        seeded = self.tenant.user(email)
        dob = WRONG_DOB if wrong_dob else seeded["date_of_birth"]
        step = self._step("start_link", key=key, person=person, date_of_birth=dob)
        url = _guarded_url(lambda: self.client.start_link(key, dob))
        op = Operation("start_link", step.number, key, url=url, entries=self._new_entries(step))
        step.outcome = url
        self.judge.judge(op)
        personal = next(p["id"] for p in seeded["profiles"] if p["type"] == "personal")
        callback = scripted_approval(self.tenant, url, seeded, personal)
        if callback is None:
            return key  # the authorize page refused to redirect (REDIRECT-EXACT says why)
        if tamper_state:
            callback = _with_state(callback, "tampered-" + "x" * 24)
        finish = self._step("finish_link", key=key, tampered=tamper_state)
        expect = {"tampered": tamper_state, "wrong_dob": wrong_dob, "works": self.pending_secret is None}
        op = Operation("finish_link", finish.number, key, expect=expect)
        outcome = self._run(finish, op, lambda: self.client.finish_link(key, callback))
        self.judge.judge(op)
        if outcome.status == "ok" and not tamper_state and not wrong_dob:
            model = UserModel(key, "linked", email, seeded["id"], held=True)
            self._track_links(model, op.entries, "authorization_code")
            self.users[key] = model
        return key

    def user_call(self, user: str, near_expiry: bool = False) -> Outcome | None:
        """One call as the customer `user` (their key); `near_expiry`: first move both clocks into
        the last minutes of their access token, where a client renews (seed 003)."""
        model = self.users.get(user)
        if model is None:
            return None  # the client never got this user (its creation or linking failed)
        if near_expiry:
            self._to_renewal_point(model.user_id)
        step = self._step("user_call", user=user, near_expiry=near_expiry)
        alive = self._alive(model)
        op = Operation("user_call", step.number, user)
        outcome = self._run(step, op, lambda: self.client.user_call(user))
        op.expect = self._expect(model, alive, op.entries)
        if model.kind == "created":
            self._track_links(model, op.entries, "registration_code")
        self.judge.judge(op)
        self._learn(model, outcome)
        return outcome

    def fund_transfer(self, user: str) -> Outcome | None:
        """An SCA-protected action as a linked user (§5.5): challenged, cleared, sent again."""
        model = self.users.get(user)
        funds = getattr(self.client, "fund_transfer", None)  # optional in the adapter
        if model is None or model.kind != "linked" or funds is None:
            return None  # created users have no profile to fund from until they make one
        step = self._step("fund_transfer", user=user)
        alive = self._alive(model)
        op = Operation("fund_transfer", step.number, user)
        outcome = self._run(step, op, lambda: funds(user))
        op.expect = self._expect(model, alive, op.entries)
        self.judge.judge(op)
        self._learn(model, outcome)
        return outcome

    def user_calls_concurrently(self, user: str, workers: int, near_expiry: bool = True) -> list[Outcome]:
        """Several workers act for one user at once. Near expiry, every worker sees the token due
        for renewal; a short delay on refreshes makes racing refreshes overlap, as in production."""
        model = self.users.get(user)
        if model is None:
            return []
        overlap = None
        if near_expiry:
            self._to_renewal_point(model.user_id)
            overlap = self.tenant.faults.add(
                "delay", grant_type="refresh_token", seconds=DELAY, times=workers
            )
        step = self._step("user_calls_concurrently", user=user, workers=workers, near_expiry=near_expiry)
        alive = self._alive(model)
        outcomes, entries = self._concurrently(
            step,
            "user_call",
            user,
            lambda: self.client.user_call(user),
            workers,
            lambda entries: self._expect(model, alive, entries),
        )
        if overlap is not None:
            self.tenant.faults.remove(overlap["id"])  # only ours: the story's own faults stay armed
        if model.kind == "created":
            self._track_links(model, entries, "registration_code")
        for outcome in outcomes:
            self._learn(model, outcome)
        return outcomes

    def _to_renewal_point(self, user_id: int | None) -> None:
        """Move both clocks to where the user's newest access token is due for renewal."""
        latest = self._latest_issued("user", user_id)
        if latest is not None:
            self._to_expiry(latest, RENEWAL_POINT, both=True)

    def _concurrently(
        self,
        step: Step,
        name: str,
        user: str | None,
        call: Callable[[], Outcome],
        workers: int,
        expect: Callable[[list[Entry]], dict[str, Any]],
    ) -> tuple[list[Outcome], list[Entry]]:
        """`workers` threads make `call` at once; each outcome is judged as operation `name`
        against what `expect` says of the entries. The outcomes, and the entries."""
        barrier = threading.Barrier(workers)
        batch_start = self._cursor

        def run(_: int) -> Outcome:
            barrier.wait(timeout=10)
            return _guarded(call)

        with ThreadPoolExecutor(workers) as pool:
            outcomes = list(pool.map(run, range(workers)))
        step.outcome = ", ".join(str(o) for o in outcomes)
        entries = self._new_entries(step, concurrency=workers, batch_start=batch_start)
        expected = expect(entries)
        for outcome in outcomes:
            op = Operation(name, step.number, user, outcome, entries=entries, concurrent=True)
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
            "deployed": deployed,
        }

    @staticmethod
    def _learn(model: UserModel, outcome: Outcome) -> None:
        if outcome.status == "relink_needed":
            model.held = False
        elif outcome.status == "ok":
            model.held = True

    # Server moves -------------------------------------------------------------------------------

    def advance(self, seconds: float, both: bool = True) -> None:
        self._step("advance", seconds=seconds, both=both)
        self._move_clocks(seconds, both)

    def advance_to_expiry(self, offset: float, both: bool = True, whose: str = "partner") -> None:
        """Move to `offset` seconds around the expiry of the newest access token of the partner
        ("partner") or of a customer (their key)."""
        model = self.users.get(whose)
        kind, user_id = ("client_credentials", None) if model is None else ("user", model.user_id)
        latest = self._latest_issued(kind, user_id)
        step = self._step("advance_to_expiry", offset=offset, both=both, whose=whose)
        if latest is None:
            step.outcome = "no token yet"
            return
        delta = self._to_expiry(latest, offset, both)
        step.outcome = f"moved {max(delta, 0):.0f} s"

    def _latest_issued(self, kind: str, user_id: int | None) -> Issued | None:
        """The newest access token of this kind (and customer) the judge saw issued."""
        tokens = [i for i in self.judge.issued.values() if i.kind == kind and i.user_id == user_id]
        return max(tokens, key=lambda i: i.at, default=None)

    def _to_expiry(self, latest: Issued, offset: float, both: bool) -> float:
        """Move the clocks forward to `offset` seconds around `latest`'s expiry (never back);
        the move wanted, negative when already past that point."""
        delta = latest.at + ACCESS_LIFETIME + offset - self.tenant.clock.now()
        if delta > 0:
            self._move_clocks(delta, both)
        return delta

    def _move_clocks(self, seconds: float, both: bool) -> None:
        self.tenant.clock.advance(seconds)
        if both and getattr(self.clock, "movable", False):
            self.clock.shift(seconds)
        else:
            self.judge.sandbox_clock_moved(seconds)

    def revoke(self, cause: str, user: str | None = None) -> None:
        """A token dies early, as on Wise: revoke-access, enhanced-security, breach, change-email."""
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
        model = self.users.get(user)
        if model is None or model.kind != "created":
            return  # only an account a partner created can be reclaimed
        self._step("reclaim", user=user)
        self.tenant.reclaim(model.email)
        model.registration_code_alive = False

    def rotate_secret(self, deploy: bool) -> None:
        """A new client secret; the partner deploys it at once, or later (`deploy_secret`)."""
        self._step("rotate_secret", deploy=deploy)
        secret = self.tenant.rotate_secret(self.config.client_id)
        self._note_ended()
        if deploy:
            self.client.update_client_secret(secret)
            self.pending_secret = None
        else:
            self.pending_secret = secret

    def deploy_secret(self) -> None:
        self._step("deploy_secret")
        if self.pending_secret is not None:
            self.client.update_client_secret(self.pending_secret)
            self.pending_secret = None

    def meet_impostor(self, user: str | None = None) -> None:
        """A man in the middle presents a certificate from an unknown CA while the partner (or the
        customer `user`) does one operation: a careful client refuses to talk to it."""
        self._step("meet_impostor", user=user)
        if self.impostor is None:
            return
        self.impostor.set(True)
        self.judge.impostor = True
        try:
            if user is None:
                self.partner_call()
            else:
                self.user_call(user)
        finally:
            self.impostor.set(False)
            self.judge.impostor = False

    def fault(self, kind: str, path: str | None = None) -> None:
        """Arm one fault for the next matching request."""
        self._step("fault", kind=kind, path=path)
        scope: dict[str, Any] = {"times": 1}
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

    def replay(self, steps: list[dict[str, Any]]) -> None:
        """Run the moves of a scenario file (`Step.as_json()` items) in order."""
        for index, item in enumerate(steps):
            action, args = item["action"], dict(item.get("args", {}))
            if action == "start_link":  # one move: its finish_link step says whether it was tampered
                finish = next((s for s in steps[index + 1 :] if s["action"] == "finish_link"), None)
                tampered = bool(
                    finish and finish["args"].get("key") == args["key"] and finish["args"].get("tampered")
                )
                self.link_user(args["person"], tampered, wrong_dob=args["date_of_birth"] == WRONG_DOB)
            elif action == "create_user":  # the key is the client's counter, not the file's
                self.create_user()
            elif action != "finish_link":
                getattr(self, action)(**args)


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
    except Exception as exc:
        return Outcome("error", "exception", {"exception": f"{type(exc).__name__}: {exc}"[:300]})
    return outcome if isinstance(outcome, Outcome) else Outcome.from_json(outcome)


def _guarded_url(call: Callable[[], str]) -> str:
    try:
        return str(call())
    except Exception as exc:
        return f"about:blank#start_link-raised-{type(exc).__name__}"


def _with_state(url: str, state: str) -> str:
    parts = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    query["state"] = state
    return parts._replace(query=urlencode(query)).geturl()
