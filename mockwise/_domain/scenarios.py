"""Scenarios: the ways a token dies early on Wise, on demand (reference §2.5, §4).

`ScenarioHandle` declares them, once: each scenario is one of its methods, whose signature and
docstring are the scenario's parameters and description. Every tenant handle (`Tenant` in this
process, `TenantClient` and the pytest fixture's `WiseSandbox` over the control plane) inherits
those methods and implements one hook, `_run_scenario`. The registry `SCENARIOS`, from which the
control plane takes its route's names, parameters and OpenAPI enum and the dashboard its forms, is
read off the declarations. What each scenario does to a tenant is the `Scenarios` service below.
"""

from __future__ import annotations

import inspect
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args, get_type_hints

from mockwise._domain.context import TenantContext
from mockwise._domain.grants import TokenService
from mockwise._domain.model import User
from mockwise._domain.tokens import EndReason, Token, TokenKind


class Identified(Protocol):
    """A user as any handle answers one (`add_user`, `user`): what has the user's `id`."""

    @property
    def id(self) -> int: ...


UserRef = int | str | Identified  # a user's id, e-mail, or the user


class ScenarioHandle(Protocol):
    """The scenarios, declared once. Each answers the ids of the tokens it ended (`rotate_secret`:
    the new secret). A parameter's line in a docstring (`name: what it is`) documents it on the
    control plane and the dashboard."""

    def _run_scenario(self, name: str, params: Mapping[str, Any]) -> list[str] | str:
        """Run the scenario `name` with `params` (by the declaration's parameter names): the ids of
        the tokens it ended, or the new secret."""
        ...

    def revoke_access(self, user: UserRef, client_id: str | None = None) -> list[str]:
        """The user revokes a partner's access on wise.com: its tokens for that user die.

        user: a user id or e-mail
        client_id: the partner; every partner when absent
        """
        return _ended(self._run_scenario("revoke_access", {"user": user, "client_id": client_id}))

    def enable_enhanced_security(self, user: UserRef) -> list[str]:
        """The user enables enhanced security: their partner tokens stop working.

        user: a user id or e-mail
        """
        return _ended(self._run_scenario("enable_enhanced_security", {"user": user}))

    def breach(self, client_id: str) -> list[str]:
        """Wise revokes every token of a client for a suspected breach.

        client_id: the partner
        """
        return _ended(self._run_scenario("breach", {"client_id": client_id}))

    def change_email(self, user: UserRef, email: str) -> list[str]:
        """The user changes their e-mail at Wise: all their tokens die.

        user: a user id or e-mail
        email: the new e-mail
        """
        return _ended(self._run_scenario("change_email", {"user": user, "email": email}))

    def rotate_secret(self, client_id: str, client_secret: str | None = None) -> str:
        """A new client secret (answered); the old one stops working and the client's
        client-credentials tokens die.

        client_id: the partner
        client_secret: the new secret; a random one when absent
        """
        return _secret(
            self._run_scenario("rotate_secret", {"client_id": client_id, "client_secret": client_secret})
        )

    def revoke_secret(self, client_id: str) -> list[str]:
        """The client secret is revoked: the client cannot authenticate and all its tokens die.

        client_id: the partner
        """
        return _ended(self._run_scenario("revoke_secret", {"client_id": client_id}))

    def reclaim(self, user: UserRef) -> list[str]:
        """The user reclaims an account a partner created: its registration code stops working.

        user: a user id or e-mail
        """
        return _ended(self._run_scenario("reclaim", {"user": user}))


def _ended(outcome: list[str] | str) -> list[str]:
    assert isinstance(outcome, list), outcome
    return outcome


def _secret(outcome: list[str] | str) -> str:
    assert isinstance(outcome, str), outcome
    return outcome


# The registry, read off the declarations -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: tuple[type, ...]  # what it is in JSON: (int, str) for a user, (str,) for the rest
    required: bool = True
    doc: str = ""

    @property
    def user(self) -> bool:
        return self.kind == (int, str)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario: its name (the method's, in Python and on the control plane), its parameters,
    what it does, and what it answers (`ended`: token ids; `client_secret`: the new secret)."""

    name: str
    params: tuple[Param, ...]
    doc: str
    answers: Literal["ended", "client_secret"] = "ended"


JSON_TYPES = (int, str, float, bool)


def _declared(method: Callable[..., Any]) -> Scenario:
    hints = get_type_hints(method)
    summary, _, rest = inspect.getdoc(method).partition("\n\n")  # type: ignore[union-attr]
    docs = dict(re.findall(r"^(\w+): (.+)$", rest, re.MULTILINE))
    params = tuple(
        Param(
            name,
            tuple(t for t in get_args(hints[name]) or (hints[name],) if t in JSON_TYPES),
            parameter.default is inspect.Parameter.empty,
            docs.get(name, ""),
        )
        for name, parameter in inspect.signature(method).parameters.items()
        if name != "self"
    )
    answers: Literal["ended", "client_secret"] = "client_secret" if hints["return"] is str else "ended"
    return Scenario(method.__name__, params, " ".join(summary.split()), answers)


SCENARIOS: dict[str, Scenario] = {
    name: _declared(method)
    for name, method in vars(ScenarioHandle).items()
    if callable(method) and not name.startswith("_")
}


class Scenarios:
    """The scenarios of one tenant, acting on its directory and tokens."""

    def __init__(self, context: TenantContext, tokens: TokenService) -> None:
        self._context = context
        self._tokens = tokens

    def user(self, ref: UserRef) -> User:
        """The user `ref` names: by id, by e-mail, or by the id of a user a handle answered."""
        directory = self._context.directory
        if isinstance(ref, User):
            return ref
        if isinstance(ref, str):
            found = directory.by_email(ref)
            if found is None:
                raise LookupError(f"no user with e-mail {ref!r} in this tenant")
            return found
        return directory.user(ref if isinstance(ref, int) else ref.id)

    def revoke_access(self, user: UserRef, client_id: str | None = None) -> list[Token]:
        """The user revokes a partner's access on wise.com (every partner when `client_id` is None)."""
        uid = self.user(user).id
        return self._revoke(
            EndReason.USER_REVOKED_ACCESS,
            lambda t: (
                t.user_id == uid and t.kind is not TokenKind.PERSONAL and client_id in (None, t.client_id)
            ),
            user_id=uid,
        )

    def enable_enhanced_security(self, user: UserRef) -> list[Token]:
        """The user turns on enhanced security: their partner tokens stop working (§2.5)."""
        owner = self.user(user)
        with self._context.lock:
            owner.enhanced_security = True
            self._context.directory.changed()
        return self._revoke(
            EndReason.ENHANCED_SECURITY,
            lambda t: t.user_id == owner.id and t.kind is not TokenKind.PERSONAL,
            user_id=owner.id,
        )

    def breach(self, client_id: str) -> list[Token]:
        """Wise revokes every token of a client for a suspected breach (§2.5)."""
        self._context.directory.client(client_id)
        breached = client_id
        return self._revoke(EndReason.SECURITY_BREACH, lambda t: t.client_id == breached, client_id=breached)

    def change_email(self, user: UserRef, email: str) -> list[Token]:
        """The user changes their e-mail at Wise: all tokens to the account are revoked (§2.5).

        Assumption: a user who changed their e-mail on wise.com has taken the account over, so the
        partner's registration code stops working too (the partner must re-link, §2.5)."""
        owner = self.user(user)
        with self._context.lock:
            self._context.directory.change_email(owner, email)
            owner.reclaimed = owner.created_over_api or owner.reclaimed
            self._context.directory.changed()
        return self._revoke(EndReason.EMAIL_CHANGED, lambda t: t.user_id == owner.id, user_id=owner.id)

    def rotate_secret(self, client_id: str, client_secret: str | None = None) -> str:
        """A new client secret (Developer Hub). The old one stops working at once and the client's
        client-credentials tokens are revoked; users' tokens survive (they belong to the client id)."""
        context = self._context
        client = context.directory.client(client_id)
        new_secret = client_secret or secrets.token_urlsafe(24)
        with context.lock:
            client.secret_digest = context.directory.secrets.digest(new_secret)
            client.secret_revoked = False
            context.directory.changed()
        self._revoke(
            EndReason.SECRET_ROTATED,
            lambda t: t.client_id == client_id and t.kind is TokenKind.CLIENT_CREDENTIALS,
            client_id=client_id,
        )
        return new_secret

    def revoke_secret(self, client_id: str) -> list[Token]:
        """The client secret is revoked: the client cannot authenticate and all its tokens die."""
        client = self._context.directory.client(client_id)
        with self._context.lock:
            client.secret_revoked = True
            self._context.directory.changed()
        return self._revoke(EndReason.SECRET_REVOKED, lambda t: t.client_id == client_id, client_id=client_id)

    def reclaim(self, user: UserRef) -> list[Token]:
        """The user takes over an account a partner created: the registration code stops working
        (§4); the partner must link through the authorize page from now on."""
        owner = self.user(user)
        with self._context.lock:
            owner.reclaimed = True
            self._context.directory.changed()
        if self._context.settings.oauth.refresh_survives_reclaim:
            return []
        return self._revoke(
            EndReason.USER_REVOKED_ACCESS,
            lambda t: t.user_id == owner.id and t.kind is not TokenKind.PERSONAL,
            user_id=owner.id,
        )

    def _revoke(
        self,
        reason: EndReason,
        which: Callable[[Token], bool],
        *,
        client_id: str | None = None,
        user_id: int | None = None,
    ) -> list[Token]:
        with self._context.lock:
            return self._tokens.revoke(reason, which, client_id=client_id, user_id=user_id)
