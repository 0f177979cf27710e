"""Wise's side moving: time passing (on both clocks or the sandbox's alone), tokens revoked,
accounts reclaimed, secrets rotated, faults armed, an impostor in the middle."""

from __future__ import annotations

import contextlib
import math
import threading
from typing import Any

from mockwise.contracts.judge import Issued
from mockwise.contracts.moves.base import (
    DELAY,
    IMPOSTOR_SECONDS,
    RETRY_AFTER,
    UserModel,
    WorldState,
)
from mockwise.testing._client import ControlPlaneError


class WiseMoves(WorldState):
    # Server moves -----------------------------------------------------------------------------

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
        delta = latest.at + latest.lifetime + offset - self.now
        if delta > 0:
            self._move_clocks(delta, both)
        return delta

    def _move_clocks(self, seconds: float, both: bool) -> None:
        self.now = self.tenant.clock.advance(seconds)
        if both and getattr(self.clock, "movable", False):
            self.clock.shift(seconds)
            self._redate()
        else:
            self.judge.sandbox_clock_moved(seconds)

    def _client_offset(self) -> float:
        """Seconds the client's clock runs ahead of this process's (an HTTP-date is written on the
        client's clock): libfaketime's whole seconds, an injected clock's offset; time-machine
        moves this process's clock with the client's."""
        offset = float(getattr(self.clock, "offset", 0.0))
        return float(math.ceil(offset)) if type(self.clock).__name__ == "FaketimeClock" else offset

    def _redate(self) -> None:
        """Faults armed with an HTTP-date and not yet fired, armed again for the client's moved
        clock (the date must still lie the same delay ahead of it)."""
        if not self._dated:
            return
        fired = {f["id"] for f in self.tenant.faults.list() if f["exhausted"]}
        for fault_id, scope in list(self._dated.items()):
            del self._dated[fault_id]
            if fault_id in fired:
                continue
            with contextlib.suppress(ControlPlaneError):
                self.tenant.faults.remove(fault_id)
                kind = scope.pop("kind")
                self._arm(kind, {**scope, "clock_offset": self._client_offset()})

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

    def fault(
        self,
        kind: str,
        path: str | None = None,
        times: int = 1,
        status: int | None = None,
        retry_after: str | None = None,
    ) -> None:
        """Arm one fault for the next matching request(s): `times` in a row is an outage.
        `status`: a server_error's 5xx (503 when not given); `retry_after`: how its answer says
        when to come back (`RETRY_AFTER_FORMS`: a 429's default is delay-seconds, a 503's none)."""
        shown: dict[str, Any] = {"kind": kind, "path": path}
        shown |= {k: v for k, v in (("times", times), ("status", status)) if v not in (None, 1)}
        shown |= {"retry_after": retry_after} if retry_after is not None else {}
        self._move("fault", **shown)
        self._step("fault", **shown)
        scope: dict[str, Any] = {"times": times}
        if path is not None and kind not in ("invalid_grant", "invalid_token"):
            scope["path"] = path
        form = retry_after
        if kind == "rate_limited":
            form = form or "seconds"
            self.took.append(("fault.retry_after", form))
        elif kind == "delay":
            scope["seconds"] = DELAY
        elif kind == "server_error":
            scope["status"] = status or 503
            self.took.append(("fault.server_error_status", scope["status"]))
            if scope["status"] == 503:
                form = form or "absent"
                self.took.append(("fault.service_unavailable_retry_after", form))
        if form is not None:
            scope["retry_after"] = 0 if form == "zero" else RETRY_AFTER
            scope["retry_after_form"] = "seconds" if form == "zero" else form
        self._arm(kind, scope)

    def _arm(self, kind: str, scope: dict[str, Any]) -> None:
        form = scope.get("retry_after_form")
        if form == "http-date":
            scope["clock_offset"] = self._client_offset()
        armed = self.tenant.faults.add(kind, **scope)
        if form is not None:  # what the judge holds a retry to (RETRY-AFTER)
            self.judge.waits[armed["id"]] = None if form == "absent" else float(scope["retry_after"])
        if form == "http-date":
            self._dated[armed["id"]] = {"kind": kind, **scope}
