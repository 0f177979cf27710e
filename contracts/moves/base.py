"""What every move of a story shares: its tenant, client and judge, the story's record (steps and
moves), and how a client's answer is taken (an exception shown with the client's own frame)."""

from __future__ import annotations

import contextlib
import datetime
import sysconfig
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mockwise._domain.journal import Entry
from mockwise._domain.settings import ACCESS_TOKEN_LIFETIME
from mockwise.contracts.adapter import ClientConfig, Outcome, WiseClient
from mockwise.contracts.clocks import ClientClock, NoClock, WaitedTooLong
from mockwise.contracts.judge import Judge, Operation
from mockwise.contracts.variation import BASE, dotted
from mockwise.testing._client import SandboxClient

ClientFactory = Callable[[ClientConfig, ClientClock], WiseClient]
RETRY_AFTER = 1  # seconds: a 429's Retry-After in the suites; real time for some clients, so short


DELAY = 0.05  # seconds: the delay fault, and the overlap forced on racing refreshes


RENEWAL_POINT = -100  # seconds around an access token's expiry: where a client renews it


IMPOSTOR_SECONDS = 10.0  # real seconds a man in the middle stays, at most


class Listeners:
    """Stories told side by side share the sandbox's TLS listeners, and a man in the middle answers
    every new connection while he is there: a move meeting him is made alone (`alone`), the
    others side by side (`shared`). A single story never waits for them."""

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
    person: str | None = None  # a linked customer: the seeded Wise user (LINKABLE) ...
    profile: str = "personal"  # ... and the type of the profile they approved last


@dataclass
class Step:
    number: int
    action: str
    args: dict[str, Any] = field(default_factory=dict)
    outcome: str | None = None

    def line(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        width = 90 if (self.outcome or "").startswith(("http", "about:")) else 240  # URLs are long
        shown = (
            self.outcome
            if self.outcome is None or len(self.outcome) <= width
            else self.outcome[: width - 1] + "…"
        )
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


class WorldState:
    """A story's tenant, its client under test, its judge, and what the story has done so far:
    shared by every family of moves (`PartnerMoves`, `LinkingMoves`, `WiseMoves`)."""

    def __init__(
        self,
        control: SandboxClient,
        endpoints: dict[str, str],
        make_client: ClientFactory,
        clock: ClientClock | None = None,
        *,
        profile: str = "wise",
        settings: dict[str, Any] | None = None,
        impostor: Any = None,
        redirect_query: bool = False,
        listeners: Listeners | None = None,
    ) -> None:
        self.settings = dotted(settings or {})  # the sandbox settings this story runs with
        self.listeners = listeners or Listeners()
        self.redirect_query = redirect_query  # the registered redirect URI has a query string (§3)
        self.tenant = control.create_tenant(settings={**BASE, **self.settings})
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
        fields = self.settings.get("oauth.token_response_fields", "current")
        self.judge = Judge(
            self.config.client_id,
            self.config.redirect_uri,
            profile,
            mtls=bool(self.config.mtls_api_url),
            absolute_expiry=fields == "current",
            lifetime=float(self.settings.get("oauth.access_token_lifetime", ACCESS_TOKEN_LIFETIME)),
            told_expiry=fields != "minimal",
        )
        self.took: list[tuple[str, Any]] = []  # variation points a fault of this story took (and how)
        self._dated: dict[str, dict[str, Any]] = {}  # armed faults with an HTTP-date, by id: their scope
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
        step.outcome = outcome.shown()
        op.outcome = outcome
        op.entries = self._new_entries(step, model=model)
        return outcome

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

    # Hooks: what one family of moves asks of another (the World has them all) --------------------

    def partner_call(self, at: int | None = None) -> Outcome:
        raise NotImplementedError  # moves.partner.PartnerMoves

    def user_call(self, user: str, at: int | None = None) -> Outcome | None:
        raise NotImplementedError  # moves.partner.PartnerMoves

    def _to_expiry_of(self, model: UserModel | None, offset: float, both: bool = True) -> float | None:
        raise NotImplementedError  # moves.wise.WiseMoves


def _guarded(call: Callable[[], Outcome]) -> Outcome:
    """A client that raises instead of reporting is judged on what it reported: an error, with
    the exception's type and message and where in the client's own code it was raised."""
    try:
        outcome = call()
    except WaitedTooLong as stopped:  # an endless retry loop, stopped in its sleep
        return Outcome("error", "hung", {"stopped": str(stopped)})
    except NotImplementedError:
        return Outcome.error("unsupported")
    except Exception as exc:
        return Outcome("error", "exception", raised(exc))
    return outcome if isinstance(outcome, Outcome) else Outcome.from_json(outcome)


def raised(exc: BaseException) -> dict[str, str]:
    """An exception as the report shows it: `{"exception": "KeyError: 'expires_in'", "where":
    "client.py:42 in store_tokens"}`, the frame being the innermost one in the client's own code
    (not the standard library's, an installed package's or the suites')."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if _client_code(f.filename)]
    data = {"exception": f"{type(exc).__name__}: {exc}"[:300]}
    where = own[-1] if own else (frames[-1] if frames else None)
    if where is not None:
        data["where"] = f"{_short(where.filename)}:{where.lineno} in {where.name}"
    return data


_LIBRARIES = tuple({sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")})


def _client_code(filename: str) -> bool:
    return not (
        filename.startswith(_LIBRARIES)
        or filename.startswith("<")
        or (
            Path(filename).resolve().parent == Path(__file__).resolve().parent
            and Path(filename).name in ("world.py", "stories.py", "runner.py", "subprocess_driver.py")
        )
    )


def _short(filename: str) -> str:
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd()))
    except ValueError:
        return filename


def _guarded_url(call: Callable[[], str]) -> str | None:
    """start_link's URL; None when the client does not offer linking."""
    try:
        return str(call())
    except NotImplementedError:
        return None
    except Exception as exc:
        return f"about:blank#start_link-raised-{type(exc).__name__}"
