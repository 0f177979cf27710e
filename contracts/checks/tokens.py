"""Tokens kept and renewed as Wise asks: the partner's reused and renewed before it expires, a
customer's refreshed before expiry (not hours early), by one worker at a time, never sent once
replaced, and a dead refresh token or registration code never sent again."""

from __future__ import annotations

from mockwise._domain.journal import Entry
from mockwise.contracts.checks.base import (
    CC_RENEWAL_WINDOW,
    Issued,
    JudgeState,
    Obligation,
    _answered,
    _duration,
    _margin,
)

OBLIGATIONS: tuple[Obligation, ...] = (
    Obligation(
        "CC-REUSE",
        "The client-credentials token is reused until it is close to expiry, not fetched per call.",
        "Wise embedded auth page (a token per worker, renewed before it expires)",
        "major",
        "no new client-credentials token while this client holds one per worker with more than an hour left",
        situation="partner operations holding a live token",
        adversaries=("a live token",),
    ),
    Obligation(
        "CC-NO-EXPIRED",
        "A client-credentials token is renewed before it expires, never sent after its expiry.",
        "Wise embedded auth page (track the lifetime and retrieve a new token before the token expires)",
        "major",
        "no API call presents a client-credentials token past the expiry it was told (expires_in or "
        "expires_at, on its clock)",
        situation="partner operations at or past the told expiry",
        needs=("clock",),
        adversaries=("at the told expiry", "past the told expiry"),
    ),
    Obligation(
        "USER-REUSE",
        "A customer's access token is reused until it is close to expiry: not refreshed, nor fetched again "
        "with the registration code, while it has hours left.",
        "Wise user-tokens page (request a new access token when the previous one is close to expiring); "
        "reference §2.5 (each refresh or new grant kills the token before it)",
        "major",
        "no refresh_token or registration_code grant for a customer whose newest access token works, was "
        "not refused, and was received less than two hours before on the client's clock",
        situation="customer operations holding a fresh token",
        adversaries=("a token under two hours old",),
    ),
    Obligation(
        "USER-NO-EXPIRED",
        "A user access token is refreshed before it expires, never sent after its known expiry.",
        "Wise user-tokens page (request a new access token whenever the previous one is close to expiring)",
        "major",
        "no API call presents a user token past the expiry the client was told (expires_in or expires_at, "
        "on its clock)",
        situation="customer operations at or past the told expiry",
        needs=("clock",),
        adversaries=("at the told expiry", "past the told expiry"),
    ),
    Obligation(
        "USER-NO-STALE",
        "A user token is never sent after a refresh replaced it, and one customer's tokens are refreshed by "
        "one worker at a time.",
        "Wise user-tokens page (a refresh invalidates the previous access token; use central token storage "
        "to avoid races)",
        "critical",
        "no API call presents a user access token a refresh superseded; no refresh presents a refresh token "
        "a refresh rotated; among workers acting at once, one refresh per customer unless its newest token "
        "was refused",
        situation="replaced tokens",
        adversaries=("refresh", "concurrent refresh"),
    ),
    Obligation(
        "INVALID-GRANT-STOP",
        "After invalid_grant the client never sends that refresh token (or dead registration code) again.",
        "Wise user-tokens page; reference §2.5",
        "critical",
        "no refresh_token grant reuses a refresh token answered invalid_grant; no registration_code grant "
        "for a user whose code was answered invalid_grant",
        situation="invalid_grant answers",
        adversaries=("refresh_token_revoked", "refresh_token_superseded", "fault", "reclaimed"),
    ),
    Obligation(
        "REFRESH-EARLY",
        "User tokens are refreshed a minute or more before expiry, not at the last second.",
        "reference §2.5 (Wise suggests refreshing hours early)",
        "minor",
        "no API call presents a user token with less than 60 seconds left on the client's clock",
        situation="customer operations in a token's last minute",
        profiles=("strict",),
        needs=("clock",),
        adversaries=("in the last minute", "past the told expiry"),
    ),
)


class TokenChecks(JudgeState):
    def _due(self, expired: str, early: str | None, held: Issued, client_now: float) -> None:
        expiry = held.client_expiry()
        if not self._usable(held) or expiry is None:
            return  # the client was told it is dead (or will be), or never told when it expires
        left = expiry - client_now
        if left <= 0:
            self._saw(expired, "past the told expiry" if left < -1 else "at the told expiry")
            if early:
                self._saw(early, "past the told expiry")
        elif left < _margin(held) and early:
            self._saw(early, "in the last minute")

    def _issued(self, entry: Entry, grant: str | None) -> None:
        assert entry.issued is not None
        kind = "client_credentials" if grant == "client_credentials" else "user"
        if kind == "client_credentials":
            self._cc_reuse(entry)
        known = self.issued.get(entry.issued)
        if known is not None:
            # the live token again (Spring's token store, client_credentials_reuse), with what is left
            # of its life: a client renewing in its last seconds cannot get a fresher one, so it is
            # blamed only past the token's real end
            known.absolute = known.absolute or self.told_expiry
            return
        link = self.links.get(entry.token or "") if grant == "refresh_token" else None
        self.issued[entry.issued] = Issued(
            kind,
            entry.at,
            self.skew,
            entry.user_id,
            entry.seq,
            self.absolute_expiry,
            link,
            grant,
            entry.issued,
            self.lifetime,
            self.told_expiry,
        )
        if link is not None:
            self.links[entry.issued] = link

    def _refresh(self, entry: Entry, refresh: str) -> None:
        # Blame only requests sent after the client had the invalid_grant answer (not concurrent ones);
        # uncoordinated workers may each discover a dead credential once; a loop is never excused.
        if entry.wall > self.dead_refresh.get(refresh, float("inf")) and self._again(refresh):
            self._fail("INVALID-GRANT-STOP", "sent a refresh token already answered invalid_grant", entry)
        if entry.error == "invalid_grant":
            self.dead_refresh.setdefault(refresh, entry.done)
        link = self.links.get(refresh)
        if link is None and entry.user_id == self.op_user and len(self.op_links) == 1:
            # a refresh token a rotation issued during this step (the sandbox's token list has not
            # been read since): of the one lineage this customer's operation holds
            (link,) = self.op_links
            self.links[refresh] = link
        self._replaced_link(entry, link)
        current = self.newest("user", frozenset({link})) if link is not None else None
        first = self.batch_refreshes.get(link) if link is not None and self.concurrency > 1 else None
        if entry.token_state == "superseded" and entry.token_cause == "rotated":
            self._rotated(entry, refresh)
        elif first is not None:
            self._second_refresh(first, entry, current)
        elif current is not None:
            self._reuse(entry, current, "refreshed")
        if link is not None and self.concurrency > 1:
            self.batch_refreshes.setdefault(link, entry)
        if entry.status == 200:
            self._saw("USER-NO-STALE", "concurrent refresh" if self.concurrency > 1 else "refresh")
            if current is not None:
                self.replaced_by[current.token] = entry
            self.used_refresh.setdefault(refresh, entry)

    def _second_refresh(self, first: Entry, entry: Entry, current: Issued | None) -> None:
        """A second refresh of one lineage among workers acting at once. Sent while the first was
        unanswered, two workers refreshed at once; sent after it succeeded, a worker refreshed a
        token another had just refreshed (it decided on what it read before). Either way each
        refresh kills the access token of the one before. Excused: after a failed first refresh,
        once the newest token was refused, or when it is already due (a token told it lives a
        second is due the moment it arrives)."""
        if entry.wall < _answered(first):
            how = f"two workers refreshed this customer's token at once (#{first.seq} and #{entry.seq})"
        elif first.status == 200 and (
            current is None
            or (current.token not in self.refused and self._young(current, entry.at - self.skew))
        ):
            how = (
                f"a worker refreshed this customer's token (#{entry.seq}) right after another worker "
                f"had refreshed it with the same refresh token (#{first.seq})"
            )
        else:
            return
        self._fail(
            "USER-NO-STALE",
            f"{how}: refreshes for one customer are not serialised, and each kills the access token "
            "the other worker holds",
            first,
            entry,
        )

    def _rotated(self, entry: Entry, refresh: str) -> None:
        self._saw("USER-NO-STALE", "rotated refresh token")
        used = self.used_refresh.get(refresh)
        if used is not None and self.concurrency > 1 and used.seq > self.batch_start:
            message = (
                f"a worker refreshed with a refresh token another worker had already used (#{used.seq}), "
                "which rotated it: refreshes for one customer are not serialised"
            )
        else:
            where = f" at #{used.seq}" if used is not None else ""
            message = (
                f"sent a refresh token the refresh{where} had rotated: the refresh_token that refresh "
                "returned was not kept"
            )
        self._fail("USER-NO-STALE", message, *([used] if used is not None else []), entry)

    def _reuse(self, entry: Entry, current: Issued, how: str) -> None:
        """USER-REUSE: new tokens for a customer whose newest token is young and works."""
        client_now = entry.at - self.skew
        age = client_now - current.received()
        used = current.token in self.presented  # a token it never used, it may never have read
        if self._young(current, client_now) and used and self._usable(current) and not self.refusals:
            self._fail(
                "USER-REUSE",
                f"{how} a customer's token it had received {_duration(age)} before, which still worked",
                entry,
            )

    def _registration(self, entry: Entry, user_id: int) -> None:
        dead_since = self.dead_registration.get(user_id, float("inf"))
        if entry.wall > dead_since and self._again(user_id):
            self._fail("INVALID-GRANT-STOP", "sent a registration code already answered invalid_grant", entry)
        if entry.error == "invalid_grant" and entry.reason in ("reclaimed", "user_credentials"):
            self.dead_registration.setdefault(user_id, entry.done)
        if self.concurrency > 1:
            return  # workers falling back at once: judged by what they do with the answers
        held = [
            info
            for info in self.issued.values()
            if info.kind == "user"
            and info.user_id == user_id
            and (info.link in self.op_links or (info.link is None and info.grant == "registration_code"))
        ]
        current = max(held, key=lambda i: i.seq, default=None)
        if current is not None:
            self._reuse(entry, current, "fetched new tokens with the registration code, replacing")

    def _again(self, credential: str | int) -> bool:
        """Whether this is a use beyond the one each concurrent worker is allowed."""
        self.retries_after_death[credential] += 1
        return self.retries_after_death[credential] > self.concurrency - 1

    def _cc_reuse(self, entry: Entry) -> None:
        client_now = entry.at - self.skew
        held = [
            token_id
            for token_id, info in self.issued.items()
            if info.kind == "client_credentials"
            and token_id not in self.refused
            and token_id not in self.ended
            and info.left(client_now) > CC_RENEWAL_WINDOW
            and token_id in self.presented  # a token it never used, it may never have read
        ]
        if len(held) >= self.partner_workers and not self.refusals:
            self._fail(
                "CC-REUSE",
                f"fetched a client-credentials token while holding {len(held)} with over an hour to live "
                f"({self.partner_workers} worker(s))",
                entry,
            )

    def _api_call(self, entry: Entry) -> None:
        token = entry.token
        assert token is not None
        if entry.status == 401:
            self.refused.add(token)
        info = self.issued.get(token)
        if info is None:
            return
        expiry = info.client_expiry()
        left = float("inf") if expiry is None else expiry - (entry.at - self.skew)
        if entry.token_state == "superseded" and info.kind == "user":
            # The most specific fault: a replaced token is stale, whether or not it also expired.
            # Excused: each worker's one request already in flight with the token that was current
            # when the workers began (it read the token before another worker's refresh replaced it).
            excused = False
            if self.concurrency > 1 and info.seq <= self.batch_start:
                self.in_flight[token] += 1
                excused = self.in_flight[token] <= self.concurrency
            if not excused:
                self._stale(entry, info)
        elif left <= 0:
            obligation = "CC-NO-EXPIRED" if info.kind == "client_credentials" else "USER-NO-EXPIRED"
            self._fail(obligation, f"sent a token {_duration(-left)} past the expiry it was told", entry)
        elif info.kind == "user" and left < _margin(info):
            self._fail("REFRESH-EARLY", f"sent a user token with only {int(left)} s left", entry)

    def _stale(self, entry: Entry, info: Issued) -> None:
        assert entry.token is not None
        by = self.replaced_by.get(entry.token)
        if (
            by is not None
            and self.concurrency > 1
            and by.seq > self.batch_start
            and not self._young(info, by.at - self.skew)
        ):
            # another worker renewed a token that was already due (a token told it lives a second
            # is due when it arrives), as it should, while this one was sending it: no client can
            # avoid that race but by never renewing
            return
        if by is None:
            self._fail("USER-NO-STALE", "sent a user access token that a refresh had already replaced", entry)
        elif self.concurrency > 1 and info.seq > self.batch_start and by.seq > self.batch_start:
            self._fail(
                "USER-NO-STALE",
                f"two workers refreshed this customer's token at once: the token one got (#{info.seq}) was "
                f"replaced by the other's refresh (#{by.seq}) and then sent",
                by,
                entry,
            )
        else:
            self._fail(
                "USER-NO-STALE",
                f"sent a user access token that the refresh at #{by.seq} had already replaced",
                by,
                entry,
            )
