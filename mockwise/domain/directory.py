"""A tenant's directory: its API clients, users and profiles, with O(1) lookups."""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from mockwise.domain.model import Address, ApiClient, Balance, Profile, ProfileType, Secrets, User

FIRST_USER_ID = 100_001
FIRST_PROFILE_ID = 30_000_001  # Wise's examples use profile ids like 30000000 (seed 004)
FIRST_BALANCE_ID = 200_001


def _no_routes(client_id: str) -> None:
    pass


class Directory:
    """Clients, users and profiles. Client ids route requests to their tenant, so adding one binds
    it (`bind_client`: ValueError when another tenant has it) and restoring a snapshot rebinds."""

    def __init__(
        self,
        secrets: Secrets,
        bind_client: Callable[[str], None] = _no_routes,
        unbind_client: Callable[[str], None] = _no_routes,
    ) -> None:
        self.secrets = secrets
        self._bind_client = bind_client
        self._unbind_client = unbind_client
        self.clients: dict[str, ApiClient] = {}
        self.users: dict[int, User] = {}
        self.profiles: dict[int, Profile] = {}
        self._by_email: dict[str, User] = {}
        self._by_signup_email: dict[str, User] = {}
        self._next_user = FIRST_USER_ID
        self._next_profile = FIRST_PROFILE_ID
        self._next_balance = FIRST_BALANCE_ID

    # Clients ---------------------------------------------------------------------------------

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        name: str = "",
        redirect_uris: Iterable[str] = (),
        mtls_enforced: bool = False,
    ) -> ApiClient:
        if client_id in self.clients:
            raise ValueError(f"client {client_id!r} already exists")
        self._bind_client(client_id)  # unique across the sandbox: it routes requests
        client = ApiClient(
            client_id=client_id,
            secret_digest=self.secrets.digest(client_secret),
            name=name or client_id,
            redirect_uris=tuple(redirect_uris),
            mtls_enforced=mtls_enforced,
        )
        self.clients[client_id] = client
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
        date_of_birth: date | None = None,
        country: str = "GB",
        first_name: str = "",
        last_name: str = "",
        phone_number: str = "",
        two_factor: bool = True,
        created_by_client: str | None = None,
        registration_code: str | None = None,
        language: str = "EN",
    ) -> User:
        if self.by_email(email) is not None:
            raise ValueError(f"a user with e-mail {email!r} already exists")
        user = User(
            id=self._next_user,
            email=email,
            signup_email=email,
            password_digest=self.secrets.digest(password) if password is not None else None,
            created_at=created_at,
            date_of_birth=date_of_birth,
            country=country.upper(),
            first_name=first_name,
            last_name=last_name,
            phone_number=phone_number,
            two_factor=two_factor,
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
        if (other := self.by_email(new_email)) is not None and other is not user:
            raise ValueError(f"a user with e-mail {new_email!r} already exists")
        self._by_email.pop(user.email.casefold(), None)
        user.email = new_email
        self._by_email[new_email.casefold()] = user

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
        kind = ProfileType(type)
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
            if not hasattr(profile, name) or name in {"id", "public_id", "user_id", "type", "balances"}:
                raise ValueError(f"unknown profile field {name!r}")
            setattr(profile, name, value)
        for currency, amount in balances:
            profile.balances.append(Balance(self._next_balance, currency.upper(), amount))
            self._next_balance += 1
        self._next_profile += 1
        self.profiles[profile.id] = profile
        user.profiles.append(profile.id)
        return profile

    def profile(self, profile_id: int) -> Profile:
        try:
            return self.profiles[profile_id]
        except KeyError:
            raise LookupError(f"no profile {profile_id} in this tenant") from None

    def profiles_of(self, user: User) -> list[Profile]:
        return [self.profiles[p] for p in user.profiles]

    # State (see `mockwise.domain.context.Part`) ----------------------------------------------

    _STATE = (
        "clients",
        "users",
        "profiles",
        "_by_email",
        "_by_signup_email",
        "_next_user",
        "_next_profile",
        "_next_balance",
    )

    def snapshot(self) -> bytes:
        return pickle.dumps({name: getattr(self, name) for name in self._STATE}, pickle.HIGHEST_PROTOCOL)

    def restore(self, snapshot: bytes | None) -> None:
        for client_id in self.clients:
            self._unbind_client(client_id)
        fresh = Directory(self.secrets)
        state: dict[str, Any] = (
            pickle.loads(snapshot)  # noqa: S301 - our own bytes
            if snapshot is not None
            else {name: getattr(fresh, name) for name in self._STATE}
        )
        for name, value in state.items():
            setattr(self, name, value)
        for client_id in self.clients:
            self._bind_client(client_id)

    def close(self) -> None:
        """Stop routing this directory's clients (its tenant is gone)."""
        for client_id in self.clients:
            self._unbind_client(client_id)
