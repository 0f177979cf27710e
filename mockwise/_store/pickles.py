"""Reading the pickles of a schema-1 state database as data, without running them.

Schema 1 kept each part of a tenant, and each batch of journal entries, as a pickle. Unpickling
lets the bytes choose what to call (a crafted file ran `os.system`), so a pickle here is never
unpickled: `read_pickle` walks its opcodes (`pickletools.genops`, which only parses) on a small
stack machine that builds lists, dicts, tuples and scalars, and records every object the pickle
would construct as a `Made` (what it names, with the arguments and state it would pass), calling
nothing. `plain` then turns `Made` objects into data through an explicit table of the classes
schema 1 wrote (`V1_CLASSES`, their fields in the order they were pickled): a name that is not in
the table is refused with `PickleError`, whatever module it claims.
"""

from __future__ import annotations

import pickletools
from dataclasses import dataclass, field
from datetime import date
from typing import Any


class PickleError(ValueError):
    """A schema-1 pickle that is not mockwise's state (one line: what it is)."""


@dataclass(frozen=True, slots=True)
class Global:
    """A name a pickle refers to (GLOBAL, STACK_GLOBAL): never looked up."""

    module: str
    name: str


@dataclass(eq=False, slots=True)
class Made:
    """An object a pickle would construct: `what(*args)`, then its state set and items added."""

    what: Global
    args: tuple[Any, ...] = ()
    state: Any = None
    items: list[Any] = field(default_factory=list)  # APPEND(S) onto it (a deque's items)
    entries: list[tuple[Any, Any]] = field(default_factory=list)  # SETITEM(S) onto it


_MARK = object()
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_SCALARS = frozenset({
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE",
    "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
})  # fmt: skip
_EMPTY = {"EMPTY_LIST": list, "EMPTY_DICT": dict, "EMPTY_TUPLE": tuple, "EMPTY_SET": list}
_TUPLES = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}
_IGNORED = frozenset({"PROTO", "FRAME"})
MAX_PICKLE = 64 * 1024 * 1024


def read_pickle(data: bytes) -> Any:
    """The value a pickle describes, with `Made` for every object it would construct."""
    if not isinstance(data, bytes) or len(data) > MAX_PICKLE:
        raise PickleError("not a pickle of mockwise's state")
    stack: list[Any] = []
    marks: list[list[Any]] = []
    memo: dict[int, Any] = {}

    def pop_mark() -> list[Any]:
        nonlocal stack
        if not marks:
            raise PickleError("a pickle with an unbalanced mark")
        items, stack = stack, marks.pop()
        return items

    try:
        for opcode, arg, _ in pickletools.genops(data):
            name = opcode.name
            if name in _IGNORED:
                continue
            if name in _SCALARS:
                stack.append(arg)
            elif name in _CONSTANTS:
                stack.append(_CONSTANTS[name])
            elif name in _EMPTY:
                stack.append(_EMPTY[name]())
            elif name == "MARK":
                marks.append(stack)
                stack = []
            elif name in _TUPLES:
                count = _TUPLES[name]
                values = tuple(stack[-count:])
                del stack[-count:]
                stack.append(values)
            elif name in ("TUPLE", "LIST", "FROZENSET"):
                items = pop_mark()  # first: it puts the stack below the mark back
                stack.append(tuple(items) if name == "TUPLE" else items)
            elif name == "DICT":
                items = pop_mark()
                stack.append(dict(zip(items[::2], items[1::2], strict=True)))
            elif name == "APPEND":
                value = stack.pop()
                _append(stack[-1], [value])
            elif name in ("APPENDS", "ADDITEMS"):
                items = pop_mark()
                _append(stack[-1], items)
            elif name == "SETITEM":
                value, key = stack.pop(), stack.pop()
                _setitems(stack[-1], [key, value])
            elif name == "SETITEMS":
                items = pop_mark()
                _setitems(stack[-1], items)
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[_index(arg)] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo[_index(arg)])
            elif name == "POP":
                stack.pop()
            elif name == "POP_MARK":
                pop_mark()
            elif name == "DUP":
                stack.append(stack[-1])
            elif name == "GLOBAL":
                module, _, attribute = str(arg).partition(" ")
                stack.append(Global(module, attribute))
            elif name == "STACK_GLOBAL":
                attribute, module = stack.pop(), stack.pop()
                if not isinstance(module, str) or not isinstance(attribute, str):
                    raise PickleError("a pickle names something that is not a name")
                stack.append(Global(module, attribute))
            elif name in ("REDUCE", "NEWOBJ"):
                args, what = stack.pop(), stack.pop()
                stack.append(_made(what, args))
            elif name == "NEWOBJ_EX":
                _, args, what = stack.pop(), stack.pop(), stack.pop()
                stack.append(_made(what, args))
            elif name == "BUILD":
                state = stack.pop()
                target = stack[-1]
                if not isinstance(target, Made):
                    raise PickleError("a pickle sets the state of a plain value")
                target.state = state
            elif name == "STOP":
                if len(stack) != 1 or marks:
                    raise PickleError("a pickle that does not end with one value")
                return stack[0]
            else:  # PERSID, EXT*, INST, OBJ, buffers...: nothing schema 1 wrote
                raise PickleError(f"a pickle with opcode {name}, which mockwise's state never has")
    except PickleError:
        raise
    except (ValueError, IndexError, KeyError, TypeError) as exc:  # torn or not a pickle at all
        raise PickleError(f"not a readable pickle ({type(exc).__name__}: {exc})") from None
    raise PickleError("a pickle that never ends")


def _index(arg: Any) -> int:
    if not isinstance(arg, (int, str)):
        raise PickleError("a pickle with a memo key that is not a number")
    return int(arg)


def _made(what: Any, args: Any) -> Made:
    if not isinstance(what, Global) or not isinstance(args, tuple):
        raise PickleError("a pickle calls something that is not a name")
    return Made(what, args)


def _append(target: Any, items: list[Any]) -> None:
    if isinstance(target, list):
        target.extend(items)
    elif isinstance(target, Made):
        target.items.extend(items)
    else:
        raise PickleError("a pickle appends to something that is not a list")


def _setitems(target: Any, items: list[Any]) -> None:
    pairs = list(zip(items[::2], items[1::2], strict=True))
    if isinstance(target, dict):
        for key, value in pairs:
            try:
                target[key] = value
            except TypeError:
                raise PickleError("a pickle keys a dict by something unhashable") from None
    elif isinstance(target, Made):
        target.entries.extend(pairs)
    else:
        raise PickleError("a pickle sets items of something that is not a dict")


# What schema 1 pickled -----------------------------------------------------------------------------

#: Where schema 1's classes lived: the modules before and after the layout of issue 25.
MODULES = frozenset(
    {"mockwise.errors", "mockwise._domain.errors", "mockwise.domain.fidelity", "mockwise._domain.settings"}
    | {
        f"mockwise.{package}.{name}"
        for package in ("domain", "_domain")
        for name in (
            *("certificates", "clock", "context", "directory", "faults", "grants", "jose", "journal"),
            *("linking", "model", "ratelimit", "sca", "scenarios", "seed", "store", "tenant", "tokens"),
        )
    }
)

#: Each dataclass schema 1 pickled, with its fields in the order a frozen one's pickle lists their
#: values (others name them). Classes that gained fields while schema 1 was written have one
#: layout per length. `_rng` (a fault's random generator) is remade, `row` given anew: not kept.
V1_CLASSES: dict[str, tuple[tuple[str, ...], ...]] = {
    "Address": (("first_line", "city", "post_code", "state", "country"),),
    "ApiClient": (
        ("client_id", "secret_digest", "name", "redirect_uris", "mtls_enforced", "secret_revoked",
         "can_create_users"),
    ),
    "Attempts": (("failures", "locked_until"),),
    "AuthorizationCode": (
        ("key", "client_id", "redirect_uri", "user_id", "profile_id", "issued_at", "expires_at", "used_at",
         "link"),
    ),
    "Balance": (("id", "currency", "amount"),),
    "Certificate": (
        ("fingerprint", "client_id", "name", "serial", "subject", "not_before", "not_after", "origin",
         "created_at", "pem", "revoked_at"),
    ),
    "Challenge": (("primary", "alternatives", "required", "passed", "triggered"),),
    "ClaimCode": (("key", "user_id", "client_id", "expires_at", "used_at"),),
    "Entry": (
        ("seq", "at", "wall", "done", "method", "path", "route", "status", "error", "reason", "grant_type",
         "client_id", "user_id", "token", "token_kind", "token_state", "token_cause", "issued", "fault",
         "cert", "server_cert", "params", "query", "basic_auth", "trace_id", "sca", "jose"),
        ("seq", "at", "wall", "done", "method", "path", "route", "status", "error", "reason", "grant_type",
         "client_id", "user_id", "token", "token_kind", "token_state", "token_cause", "issued", "fault",
         "cert", "server_cert", "params", "query", "headers", "basic_auth", "trace_id", "sca", "jose"),
    ),
    "Fault": (
        ("id", "kind", "path", "method", "grant_type", "client_id", "times", "probability", "status",
         "retry_after", "seconds", "seed", "fired", "_rng"),
    ),
    "Link": (
        ("id", "client_id", "user_id", "profile_id", "grant_type", "refresh", "access", "code_key", "history",
         "key_profile"),
    ),
    "LoginSession": (("key", "csrf", "expires_at", "user_id", "verified"),),
    "Mail": (
        ("id", "to", "subject", "text", "link", "link_id", "client_id", "redirect_uri", "user_id", "sent_at"),
    ),
    "OneTimeToken": (
        ("key", "user_id", "profile_id", "action", "issued_at", "expires_at", "challenges", "spent"),
    ),
    "Profile": (
        ("id", "public_id", "user_id", "type", "address", "created_at", "address_id", "first_name",
         "last_name", "preferred_name", "date_of_birth", "phone_number", "occupation", "business_name",
         "registration_number", "company_type", "company_role", "description", "webpage", "category",
         "sub_category", "balances"),
    ),
    "Token": (
        ("key", "kind", "issued_at", "expires_at", "client_id", "user_id", "profile_id", "grant_type", "link",
         "ended_at", "end_reason", "cert", "row"),
    ),
    "User": (
        ("id", "email", "signup_email", "password_digest", "created_at", "date_of_birth", "country",
         "first_name", "last_name", "phone_number", "active", "two_factor", "enhanced_security",
         "created_by_client", "registration_code_digest", "language", "reclaimed", "profiles"),
    ),
    # settings (`fidelity` then)
    "Settings": (("oauth", "authorize", "sca", "jose", "rate_limits", "mtls", "limits"),),
    "OAuth": (
        ("registration_code_failure_status", "refresh_token_rotation", "client_credentials_reuse",
         "client_auth_in_body", "token_params_from_query", "echo_token_in_invalid_token",
         "client_credentials_token_format", "token_response_fields", "link_per_profile",
         "bound_token_lists_only_its_profile", "client_credentials_on_user_endpoints",
         "refresh_survives_reclaim", "expired_token_memory"),
    ),
    "Authorize": (
        ("deny_redirects", "access_denied_description", "login_session_lifetime"),
        ("deny_redirects", "access_denied_description", "login_session_lifetime", "login_max_failures",
         "login_lockout"),
    ),
    "Sca": (
        ("personal_tokens", "user_tokens", "challenge_body", "signing_accounts", "statement_exemption_days",
         "low_risk_challenges", "high_risk_challenges", "pin", "lockout_status", "one_time_token_lifetime"),
    ),
    "Jose": (("refusal_status", "response_signing_algorithm", "wrap_errors"),),
    "RateLimits": (("enabled", "per_second", "per_minute", "limited_by", "scope", "retry_after"),),
    "Mtls": (("refusal_status", "token_binding"),),
    "Limits": (("max_body", "max_header_bytes", "mailbox_size"),),
}  # fmt: skip

#: The enums schema 1 pickled (a pickle names one with its value).
V1_ENUMS = frozenset(
    {"TokenKind", "EndReason", "ProfileType", "FaultKind", "ScaAction", "ChallengeType", "KeyScope"}
)
#: `PartnerKey` pickled itself as a call of this function with its fields (its JWK as JSON).
PARTNER_KEY = (
    "key_id", "client_id", "scope", "algorithm", "public", "key_material", "valid_from", "valid_till",
    "valid_from_text", "valid_till_text", "created_at",
)  # fmt: skip
NOT_KEPT = frozenset({"_rng", "row"})


def plain(value: Any) -> Any:
    """`value` from `read_pickle` as data: a dataclass of `V1_CLASSES` as a dict of its fields (with
    `"__class__"`), an enum as its value, a date as a `date`, a deque or a set as a list. Shared
    objects stay shared (a token's link is one dict). PickleError for anything else."""
    return _Plain().value(value)


class _Plain:
    def __init__(self) -> None:
        self.seen: dict[int, Any] = {}

    def value(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, float, str, bytes)):
            return value
        if isinstance(value, tuple):
            return tuple(self.value(v) for v in value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, Made):
            known = self.seen.get(id(value))
            if known is None:
                known = self.seen[id(value)] = {}
                known.update(self.made(value))  # filled in place: a cycle (link ↔ token) comes out shared
            return known.get("__value__", known)
        if isinstance(value, Global):
            raise PickleError(f"names {value.module}.{value.name} outside a call")
        raise PickleError(f"holds a {type(value).__name__}")

    def made(self, made: Made) -> dict[str, Any]:
        module, name = made.what.module, made.what.name
        where = f"{module}.{name}"
        if (module, name) in (("builtins", "set"), ("builtins", "frozenset")):
            return {"__value__": [self.value(v) for v in (made.args[0] if made.args else ())]}
        if (module, name) == ("collections", "deque"):
            first = list(made.args[0]) if made.args and isinstance(made.args[0], (list, tuple)) else []
            return {"__value__": [self.value(v) for v in [*first, *made.items]]}
        if (module, name) == ("collections", "OrderedDict"):
            return {"__value__": {self.value(k): self.value(v) for k, v in made.entries}}
        if (module, name) == ("datetime", "date"):
            raw = made.args[0] if made.args else None
            if not isinstance(raw, bytes) or len(raw) != 4:
                raise PickleError("holds a date that is not one")
            return {"__value__": date(raw[0] * 256 + raw[1], raw[2], raw[3])}
        if (module, name) == ("random", "Random"):
            return {"__value__": None}  # a fault's generator: remade from its seed
        if module not in MODULES:
            raise PickleError(f"names {where}, which is not mockwise's state")
        if name in V1_ENUMS:
            if len(made.args) != 1:
                raise PickleError(f"holds a {name} that is not one")
            return {"__value__": self.value(made.args[0])}
        if name == "_partner_key":
            if len(made.args) != len(PARTNER_KEY):
                raise PickleError("holds a partner key that is not one")
            fields = dict(zip(PARTNER_KEY, made.args, strict=True))
            return {"__class__": "PartnerKey", **{k: self.value(v) for k, v in fields.items()}}
        layouts = V1_CLASSES.get(name)
        if layouts is None:
            raise PickleError(f"names {where}, which is not mockwise's state")
        return {"__class__": name, **self.fields(name, layouts, made.state)}

    def fields(self, name: str, layouts: tuple[tuple[str, ...], ...], state: Any) -> dict[str, Any]:
        """A dataclass's fields from its pickled state: by name (a slotted class pickles
        `(None, {slot: value})`), or by position (a frozen one pickles a list of its values)."""
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            named = {**(state[0] or {}), **state[1]}
            known = {f for fields in layouts for f in fields}
            if not all(isinstance(k, str) and k in known for k in named):
                raise PickleError(f"holds a {name} with a field it never had")
        elif isinstance(state, list):
            layout = next((fields for fields in layouts if len(fields) == len(state)), None)
            if layout is None:
                raise PickleError(f"holds a {name} of {len(state)} fields")
            named = dict(zip(layout, state, strict=True))
        else:
            raise PickleError(f"holds a {name} whose fields are neither named nor listed")
        return {k: self.value(v) for k, v in named.items() if k not in NOT_KEPT}
