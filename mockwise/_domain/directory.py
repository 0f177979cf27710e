"""A tenant's directory: its API clients, users and profiles, with O(1) lookups."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass, field
from datetime import date
from typing import TypedDict, Unpack
from urllib.parse import urlsplit

from mockwise._domain.codec import JSON, RecordError, from_data, to_data
from mockwise._domain.model import Address, ApiClient, Balance, Profile, ProfileType, Secrets, User

FIRST_USER_ID = 100_001
FIRST_PROFILE_ID = 30_000_001  # Wise's examples use profile ids like 30000000 (Wise linking-accounts page)
FIRST_BALANCE_ID = 200_001


def _no_routes(client_id: str) -> None:
    pass


class Taken(ValueError):
    """A client id or an e-mail another client or user already has (409 on the control plane)."""


# What the directory accepts: rules of the data itself, so the Python API, seeds and the control
# plane all refuse the same values (a ValueError: 400 on the control plane).

#: A URI scheme (RFC 3986 §3.1).
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
#: Schemes that run or embed content where a browser is sent: never a place to redirect to.
_NOT_REDIRECTS = frozenset({"javascript", "vbscript", "data", "blob", "file", "about", "filesystem"})
_ATEXT = r"[\w!#$%&'*+/=?^`{|}~-]"  # RFC 5322 atext (letters and digits in any script)
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
#: An e-mail address as a sign-up form takes it: a dot-atom local part and a domain of two or more
#: labels. No spaces, quotes, angle brackets, parentheses or control characters.
_EMAIL = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*@{_LABEL}(?:\.{_LABEL})+")


def check_client_id(client_id: str) -> None:
    """A client id travels as HTTP Basic's user name and a certificate's CN (§2.1, §6)."""
    if not 0 < len(client_id) <= 255:
        raise ValueError("a client id is 1-255 characters")
    if ":" in client_id:
        raise ValueError(
            f"client id {client_id!r} contains ':', which HTTP Basic cannot carry in a user name "
            "(the first ':' separates the client id from the secret)"
        )
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in client_id):
        raise ValueError("a client id contains no control characters")


def check_redirect_uri(uri: str) -> None:
    """An absolute http(s) URI with a host, or a mobile app's own scheme (`myapp://callback`,
    `com.example.app:/oauth`, Wise linking-accounts page); never a script or data URI, whitespace, control
    characters or a fragment (RFC 6749 §3.1.2)."""
    if not uri:
        raise ValueError("a redirect URI cannot be empty")
    if not all("!" <= c <= "~" for c in uri):
        raise ValueError(
            f"redirect URI {uri[:100]!r} contains whitespace, control or non-ASCII characters "
            "(a URI percent-encodes them)"
        )
    scheme, colon, rest = uri.partition(":")
    if not colon or not rest or not _SCHEME.fullmatch(scheme):
        raise ValueError(
            f"redirect URI {uri[:100]!r} is not an absolute URI (https://…, or an app's scheme: myapp://…)"
        )
    if scheme.lower() in _NOT_REDIRECTS:
        raise ValueError(f"a {scheme.lower()}: URI cannot be a redirect URI")
    if scheme.lower() in ("http", "https") and not urlsplit(uri).hostname:
        raise ValueError(f"redirect URI {uri[:100]!r} names no host")
    if "#" in uri:
        raise ValueError(f"redirect URI {uri[:100]!r} has a fragment (RFC 6749 §3.1.2 forbids it)")


#: The profile fields a seed or the control plane may set: text (reference §11), and a date of birth.
PROFILE_TEXT = frozenset({
    "first_name", "last_name", "preferred_name", "phone_number", "occupation",  # personal
    "business_name", "registration_number", "company_type", "company_role", "description",  # business
    "webpage", "category", "sub_category",
})  # fmt: skip


def check_profile(
    type: ProfileType | str,
    address: Address | None = None,
    fields: dict[str, object] | None = None,
    balances: Iterable[tuple[str, float]] = (),
) -> ProfileType:
    """A profile's type, address, fields and balances as the directory takes them (nothing else
    can be set, and each is of its kind, so rendering the profile never meets a surprise)."""
    kind = ProfileType(type)
    for currency, _ in balances:
        if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
            raise ValueError(f"a balance's currency is a 3-letter code (ISO 4217), not {currency[:20]!r}")
    if address is not None and not all(isinstance(v, str) for v in astuple(address)):
        raise ValueError("an address's fields are strings")
    for name, value in (fields or {}).items():
        if name == "date_of_birth":
            if value is not None and not isinstance(value, date):
                raise ValueError("a profile's 'date_of_birth' is a date (YYYY-MM-DD)")
        elif name not in PROFILE_TEXT:
            raise ValueError(f"unknown profile field {name!r}")
        elif not isinstance(value, str):
            raise ValueError(f"profile field {name!r} is a string")
    return kind


def is_email(value: str) -> bool:
    return len(value) <= 254 and len(value.partition("@")[0]) <= 64 and _EMAIL.fullmatch(value) is not None


def check_email(email: str) -> None:
    if not is_email(email):
        raise ValueError(f"{email[:100]!r} is not an e-mail address (like name@example.com)")


def _nothing() -> None:
    pass


class ClientDetails(TypedDict, total=False):
    """A new API client's details, each with a default (`add_client` on every tenant handle)."""

    name: str
    """What the Developer Hub shows; the client id by default."""
    redirect_uris: Iterable[str]
    """Where the authorize page may send the user back, exactly as registered (§3); none by default."""
    mtls_enforced: bool
    """Whether its calls must come over mTLS (§6); False by default (a seed's partner: True)."""


class UserDetails(TypedDict, total=False):
    """A new user's details, each with a default (`add_user` on every tenant handle)."""

    date_of_birth: date | str | None
    """A `date` or ISO `YYYY-MM-DD`; none by default."""
    country: str
    """ISO 3166-1 alpha-2; "GB" by default. EU/UK users get PSD2 limits (§5.1)."""
    first_name: str
    last_name: str
    phone_number: str
    two_factor: bool
    """Whether the authorize page asks for the 2FA code; True by default."""


def to_date(value: date | str | None) -> date | None:
    """A date from a `date` or an ISO `YYYY-MM-DD` string (ValueError for anything else)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


class Directory:
    """Clients, users and profiles. Client ids route requests to their tenant, so adding one binds
    it (`bind_client`: ValueError when another tenant has it) and restoring a snapshot rebinds.

    Whoever changes a client, user or profile calls `changed()` afterwards (the tenant's state
    store saves the directory then); the directory's own methods do."""

    def __init__(
        self,
        secrets: Secrets,
        bind_client: Callable[[str], None] = _no_routes,
        unbind_client: Callable[[str], None] = _no_routes,
        changed: Callable[[], None] = _nothing,
    ) -> None:
        self.secrets = secrets
        self._bind_client = bind_client
        self._unbind_client = unbind_client
        self.changed = changed
        self.clients: dict[str, ApiClient] = {}
        self.users: dict[int, User] = {}
        self.profiles: dict[int, Profile] = {}
        self._by_email: dict[str, User] = {}
        self._by_signup_email: dict[str, User] = {}
        self._next_user = FIRST_USER_ID
        self._next_profile = FIRST_PROFILE_ID
        self._next_balance = FIRST_BALANCE_ID

    # Clients ---------------------------------------------------------------------------------

    def add_client(self, client_id: str, client_secret: str, **details: Unpack[ClientDetails]) -> ApiClient:
        check_client_id(client_id)
        for uri in (redirect_uris := tuple(details.get("redirect_uris", ()))):
            check_redirect_uri(uri)
        if client_id in self.clients:
            raise Taken(f"client {client_id!r} already exists")
        self._bind_client(client_id)  # unique across the sandbox: it routes requests
        client = ApiClient(
            client_id=client_id,
            secret_digest=self.secrets.digest(client_secret),
            name=details.get("name") or client_id,
            redirect_uris=redirect_uris,
            mtls_enforced=details.get("mtls_enforced", False),
        )
        self.clients[client_id] = client
        self.changed()
        return client

    def client(self, client_id: str) -> ApiClient:
        try:
            return self.clients[client_id]
        except KeyError:
            raise LookupError(f"no client {client_id!r} in this tenant") from None

    # Users -----------------------------------------------------------------------------------

    def add_user(
        self,
        email: str,
        password: str | None = None,
        *,
        created_at: float,
        created_by_client: str | None = None,
        registration_code: str | None = None,
        language: str = "EN",
        **details: Unpack[UserDetails],
    ) -> User:
        check_email(email)
        country = details.get("country", "GB")
        if not (len(country) == 2 and country.isascii() and country.isalpha()):
            raise ValueError(f"a country is an ISO 3166-1 alpha-2 code (GB, US, DE...), not {country[:20]!r}")
        if self.by_email(email) is not None:
            raise Taken(f"a user with e-mail {email!r} already exists")
        user = User(
            id=self._next_user,
            email=email,
            signup_email=email,
            password_digest=self.secrets.digest(password) if password is not None else None,
            created_at=created_at,
            date_of_birth=to_date(details.get("date_of_birth")),
            country=country.upper(),
            first_name=details.get("first_name", ""),
            last_name=details.get("last_name", ""),
            phone_number=details.get("phone_number", ""),
            two_factor=details.get("two_factor", True),
            created_by_client=created_by_client,
            registration_code_digest=(
                self.secrets.digest(registration_code) if registration_code is not None else None
            ),
            language=language,
        )
        self._next_user += 1
        self.users[user.id] = user
        self._by_email[email.casefold()] = user
        self._by_signup_email[email.casefold()] = user
        self.changed()
        return user

    def user(self, user_id: int) -> User:
        try:
            return self.users[user_id]
        except KeyError:
            raise LookupError(f"no user {user_id} in this tenant") from None

    def by_email(self, email: str) -> User | None:
        """E-mail is the unique key of a Wise user (§4), compared case-insensitively."""
        return self._by_email.get(email.casefold())

    def by_signup_email(self, email: str) -> User | None:
        """The registration_code grant needs the e-mail the user was created with (§4)."""
        return self._by_signup_email.get(email.casefold())

    def change_email(self, user: User, new_email: str) -> None:
        check_email(new_email)
        if (other := self.by_email(new_email)) is not None and other is not user:
            raise Taken(f"a user with e-mail {new_email!r} already exists")
        self._by_email.pop(user.email.casefold(), None)
        user.email = new_email
        self._by_email[new_email.casefold()] = user
        self.changed()

    def check_password(self, user: User, password: str) -> bool:
        return self.secrets.matches(password, user.password_digest)

    # Profiles --------------------------------------------------------------------------------

    def add_profile(
        self,
        user: User,
        type: ProfileType | str = ProfileType.PERSONAL,
        *,
        created_at: float,
        address: Address | None = None,
        balances: Iterable[tuple[str, float]] = (),
        **fields: object,
    ) -> Profile:
        balances = tuple(balances)
        kind = check_profile(type, address, fields, balances)
        profile = Profile(
            id=self._next_profile,
            public_id=str(uuid.uuid4()),
            user_id=user.id,
            type=kind,
            address=address or Address(country=user.country),
            created_at=created_at,
            address_id=self._next_profile + 10_000_000,
        )
        if kind is ProfileType.PERSONAL:
            profile.first_name = user.first_name
            profile.last_name = user.last_name
            profile.date_of_birth = user.date_of_birth
            profile.phone_number = user.phone_number
        for name, value in fields.items():
            setattr(profile, name, value)
        for currency, amount in balances:
            profile.balances.append(Balance(self._next_balance, currency.upper(), amount))
            self._next_balance += 1
        self._next_profile += 1
        self.profiles[profile.id] = profile
        user.profiles.append(profile.id)
        self.changed()
        return profile

    def profile(self, profile_id: int) -> Profile:
        try:
            return self.profiles[profile_id]
        except KeyError:
            raise LookupError(f"no profile {profile_id} in this tenant") from None

    def profiles_of(self, user: User) -> list[Profile]:
        return [self.profiles[p] for p in user.profiles]

    # State (see `mockwise._domain.context.Part`) ----------------------------------------------

    def snapshot(self) -> JSON:
        """Clients, users and profiles as data (`DirectoryState`)."""
        return to_data(
            DirectoryState(
                list(self.clients.values()),
                list(self.users.values()),
                list(self.profiles.values()),
                self._next_user,
                self._next_profile,
                self._next_balance,
            )
        )

    def restore(self, snapshot: JSON) -> None:
        state = (
            DirectoryState()
            if snapshot is None
            else _checked(from_data(DirectoryState, snapshot, "directory"))
        )
        for client_id in self.clients:
            self._unbind_client(client_id)
        self.clients = {c.client_id: c for c in state.clients}
        self.users = {u.id: u for u in state.users}
        self.profiles = {p.id: p for p in state.profiles}
        self._by_email = {u.email.casefold(): u for u in state.users}
        self._by_signup_email = {u.signup_email.casefold(): u for u in state.users}  # the newest wins
        self._next_user, self._next_profile = state.next_user, state.next_profile
        self._next_balance = state.next_balance
        for client_id in self.clients:
            self._bind_client(client_id)
        self.changed()

    def close(self) -> None:
        """Stop routing this directory's clients (its tenant is gone)."""
        for client_id in self.clients:
            self._unbind_client(client_id)


@dataclass(slots=True)
class DirectoryState:
    """A directory as data (its part of a tenant's state)."""

    clients: list[ApiClient] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)
    next_user: int = FIRST_USER_ID
    next_profile: int = FIRST_PROFILE_ID
    next_balance: int = FIRST_BALANCE_ID


def _checked(state: DirectoryState) -> DirectoryState:
    """What the directory's own methods guarantee, checked on state read back: unique ids and
    e-mails, and every profile a user lists is theirs."""
    profiles = {p.id: p for p in state.profiles}
    users = {u.id for u in state.users}
    emails = [u.email.casefold() for u in state.users]
    if (
        len(profiles) != len(state.profiles)
        or len(users) != len(state.users)
        or len(set(emails)) != len(emails)
    ):
        raise RecordError("directory: two users, profiles or e-mails are the same")
    if len({c.client_id for c in state.clients}) != len(state.clients):
        raise RecordError("directory: two clients have the same id")
    for user in state.users:
        for profile_id in user.profiles:
            if profile_id not in profiles or profiles[profile_id].user_id != user.id:
                raise RecordError(f"directory.users: user {user.id} lists profile {profile_id}, not theirs")
    for profile in state.profiles:
        if profile.user_id not in users:
            raise RecordError(f"directory.profiles: profile {profile.id} belongs to no user")
    return state
