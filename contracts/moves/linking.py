"""A customer linking their Wise account through the client, and every journey after it: the
authorize page approved, declined or left, a redirect back tampered with, linking again, two
attempts at once."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

from mockwise.contracts.adapter import Outcome
from mockwise.contracts.judge import Operation
from mockwise.contracts.moves.base import (
    UserModel,
    WorldState,
    _guarded,
    _guarded_url,
)
from mockwise.testing._client import ControlPlaneError, TenantClient

LINKABLE = {"alex": "alex.morgan@example.com", "lena": "lena.fischer@example.com"}


#: Extra parameters a genuine redirect back may carry: a client must ignore them.
EXTRA_PARAMS = (("lang", "en"), ("source", "wise"))


class LinkingMoves(WorldState):
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
        seeded = _seeded(self.tenant, email)
        date_of_birth = near_miss(seeded["date_of_birth"], dob)
        url = self._start_link(key, person, date_of_birth)
        if url is None:
            return key
        chosen = _profile(seeded, profile)
        callback = scripted_approval(self.tenant, url, seeded, chosen["id"])
        if callback is None:
            return key  # the authorize page refused to redirect (REDIRECT-EXACT says why)
        if tamper:
            callback = tampered(callback, tamper)
        else:
            self.took.append(("world.callback_extra_params", extra))
            callback = _with_extra(callback) if extra else callback
        finish_args = {"key": key} | {k: v for k, v in args.items() if k in ("tamper", "profile", "extra")}
        personal = chosen["type"] == "personal"
        expect = {
            "tamper": tamper,
            "wrong_dob": dob if dob != "own" and personal else None,
            # Wise linking-accounts page: a business is checked by other means; whether a link to one
            # succeeds is the client's decision, so only personal links must work
            "works": self.pending_secret is None and personal,
        }
        model = UserModel(key, "linked", email, seeded["id"], person=person, profile=chosen["type"])
        outcome, op = self._finish_link(key, model, callback, expect, finish_args)
        if outcome.status == "ok" and not tamper and (dob == "own" or not personal):
            model.held = True
            self._track_links(model, op.entries, "authorization_code")
            self.users[key] = model
        return key

    def _start_link(self, key: str, person: str, date_of_birth: str) -> str | None:
        """The client's authorize URL for customer `key`, judged; None when it does not link."""
        step = self._step("start_link", key=key, person=person, date_of_birth=date_of_birth)
        op = Operation("start_link", step.number, key)
        url = _guarded_url(lambda: self.client.start_link(key, date_of_birth))
        if url is None:
            step.outcome = "error:unsupported"
            op.outcome = Outcome.error("unsupported")
            self.judge.judge(op)
            return None
        op.url = url
        op.entries = self._new_entries(step)
        step.outcome = url
        self.judge.judge(op)
        return url

    def _finish_link(
        self, key: str, model: UserModel, callback: str, expect: dict[str, Any], shown: dict[str, Any]
    ) -> tuple[Outcome, Operation]:
        """The customer comes back to the client's redirect URI with `callback`."""
        finish = self._step("finish_link", **shown)
        op = Operation("finish_link", finish.number, key, user_id=model.user_id, expect=expect)
        op.links = frozenset(model.links)
        self.judge.begin(op, self.now)
        outcome = _guarded(lambda: self.client.finish_link(key, callback))
        finish.outcome = outcome.shown()
        op.outcome = outcome
        op.entries = self._new_entries(finish, model=model)
        self.judge.judge(op)
        return outcome, op

    def relink(self, user: str, how: str = "same") -> None:
        """A linked customer links again (§3; reference §2.5: a new grant kills the link's refresh
        token): approving the same profile ("same") or their other one ("other"), declining on
        the authorize page ("declined", RFC 6749 §4.1.2.1), or closing it and never coming back
        ("abandoned"). After a declined or abandoned attempt the customer comes back to the
        partner's product at once: their existing link must still work (LINK-KEPT)."""
        self._move("relink", user=user, how=how)
        model = self.users.get(user)
        if model is None or model.kind != "linked" or model.person is None:
            return
        seeded = _seeded(self.tenant, LINKABLE[model.person])
        url = self._start_link(user, model.person, seeded["date_of_birth"])
        if url is None:
            return
        if how in ("declined", "abandoned"):
            if how == "declined":
                chosen = _profile(seeded, model.profile)
                callback = scripted_approval(self.tenant, url, seeded, chosen["id"], approve=False)
                if callback is not None:
                    self._finish_link(
                        user, model, callback, {"declined": True}, {"key": user, "declined": True}
                    )
            self.judge.link_attempt(model.user_id, how)
            self._depth += 1
            try:
                self.user_call(user)  # the customer comes back
            finally:
                self._depth -= 1
            return
        other = {"personal": "business", "business": "personal"}[model.profile] if how == "other" else None
        chosen = _profile(seeded, other or model.profile)
        callback = scripted_approval(self.tenant, url, seeded, chosen["id"])
        if callback is None:
            return
        expect = {"works": self.pending_secret is None and chosen["type"] == "personal"}
        shown = {"key": user} | ({"profile": chosen["type"]} if chosen["type"] != model.profile else {})
        before = set(model.links)
        outcome, op = self._finish_link(user, model, callback, expect, shown)
        if outcome.status == "ok":
            model.held, model.profile = True, chosen["type"]
            self._track_links(model, op.entries, "authorization_code")
            dead = {t["link"] for t in self.tokens() if t["kind"] == "refresh" and t["state"] != "valid"}
            self.judge.relinked(model.user_id, (before & dead) - {None})

    def link_twice(self, person: str) -> str:
        """A customer starts linking twice before finishing (two tabs, a page closed and opened
        again), approves both, and comes back with the first attempt's redirect, then the
        second's: each is an attempt the client started (LINKS-IN-FLIGHT)."""
        move = self._move("link_twice", person=person)
        self._counter += 1
        key = f"l{self._counter}"
        if move is not None:
            move.created = key
        seeded = _seeded(self.tenant, LINKABLE[person])
        urls = [self._start_link(key, person, seeded["date_of_birth"]) for _ in range(2)]
        started = [url for url in urls if url is not None]
        if len(started) < 2:
            return key
        chosen = _profile(seeded, "personal")
        callbacks = [scripted_approval(self.tenant, url, seeded, chosen["id"]) for url in started]
        model = UserModel(key, "linked", LINKABLE[person], seeded["id"], person=person)
        for attempt, callback in enumerate(callbacks, 1):
            if callback is None:
                continue
            expect = {"works": self.pending_secret is None, "in_flight": attempt}
            outcome, op = self._finish_link(key, model, callback, expect, {"key": key, "attempt": attempt})
            if outcome.status == "ok":
                model.held = True
                self._track_links(model, op.entries, "authorization_code")
                self.users[key] = model
        return key


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
    tenant: TenantClient, authorize_url: str, person: dict[str, Any], profile_id: int, approve: bool = True
) -> str | None:
    """The customer logs in on the authorize page and approves (or denies: the redirect back, or the
    link back Wise's page shows, with `error=access_denied`, §3); None when the page will not
    redirect (an unknown client or an unregistered redirect_uri shows an error page, §3)."""
    try:
        redirect = tenant.link(
            authorize_url,
            email=person["email"],
            password=person["password"],
            profile_id=profile_id,
            approve=approve,
        )
    except ControlPlaneError:
        return None
    return redirect or None


def _seeded(tenant: TenantClient, email: str) -> dict[str, Any]:
    """The seeded person, as seeded (with their password): the tenant's users are records now."""
    person: dict[str, Any] = next(u for u in tenant.users if u["email"] == email)
    return person


def _profile(seeded: dict[str, Any], kind: str) -> dict[str, Any]:
    """The seeded user's profile of this type, or their personal one."""
    profiles: list[dict[str, Any]] = seeded["profiles"]
    chosen = next((p for p in profiles if p["type"] == kind), None)
    return chosen or next(p for p in profiles if p["type"] == "personal")
