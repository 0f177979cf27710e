"""The standalone server's state across restarts: its state directory's lock, its state database
(`mockwise._store`), and the default tenant's credentials after a restart.

`mockwise serve` keeps every tenant in `<state dir>/state.db` unless told `--in-memory`; `--fresh`
(or `mockwise reset` while it is stopped) forgets them. One server per state directory: a second
refuses to start. The certificates, keys and `sandbox.json` beside the database are the keystore's
(`mockwise._standalone.keystore`) and stay either way, so clients keep trusting the server. The
directory must be this user's alone (`mockwise._store.lock.check_directory`): one owned by another
user, or writable by others, is refused before anything in it is read.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from mockwise._domain.sandbox import DEFAULT_TENANT, Sandbox
from mockwise._domain.seed import Credentials, SeedData
from mockwise._domain.settings import Settings
from mockwise._domain.store import Restored
from mockwise._domain.tenant import Tenant
from mockwise._store import STATE_FILE, SqliteStore, StateError, StateLock, remove_state


class ServerState:
    """A state directory held by this process, and the store of its tenants (None: in memory)."""

    def __init__(self, directory: Path, *, persist: bool = True, fresh: bool = False) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE
        self.lock = StateLock(directory).acquire()
        if fresh:
            remove_state(directory)
        self.store = SqliteStore(self.path) if persist else None

    def default_tenant(
        self, sandbox: Sandbox, seed: SeedData, settings: Settings
    ) -> tuple[Tenant, Credentials, bool]:
        """The default tenant: the one the store brought back (with its own settings), or a new one
        seeded from `seed` with `settings`. Answers it, its credentials in clear, and whether it is new."""
        if DEFAULT_TENANT not in sandbox.tenants:
            tenant, credentials = sandbox.create_tenant(DEFAULT_TENANT, fixed=True, settings=settings)
            return tenant, credentials, True
        tenant = sandbox.tenant(DEFAULT_TENANT)
        try:
            return tenant, recover_credentials(tenant, seed, self._previous()), False
        except sqlite3.Error as exc:  # the database went bad under its rows: one line, not a traceback
            raise StateError(
                f"{self.path} cannot be read ({exc}): move it away, or start with --fresh to begin again"
            ) from None

    def _previous(self) -> dict[str, Any] | None:
        """The last `sandbox.json`, if it is one (never through a link)."""
        path = self.directory / "sandbox.json"
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, encoding="utf-8") as previous:
                doc = json.load(previous)
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def started(self, restored: Restored | None) -> str:
        """The start-up line about the state."""
        if self.store is None:
            return "  state          in memory (--in-memory): nothing survives a restart"
        if restored is None:
            return f"  state          started fresh in {_shown(self.path)} (kept across restarts)"
        return f"  state          {restored} (--fresh starts over)"

    def stopped(self) -> str:
        if self.store is None:
            return "mockwise stopped."
        return f"mockwise stopped; its state is in {_shown(self.path)}."

    def close(self, sandbox: Sandbox | None) -> None:
        try:
            if sandbox is not None:
                sandbox.close()
        finally:
            self.lock.release()


def recover_credentials(tenant: Tenant, seed: SeedData, previous: dict[str, Any] | None) -> Credentials:
    """The default tenant's credentials in clear, for `sandbox.json` after a restart. The tenant keeps
    digests only, so each secret comes from the seed (the default tenant is seeded as written) or
    from the last `sandbox.json`, whichever still matches; one that neither knows (a secret rotated
    at runtime to a random one, a password changed on the authorize page) is null."""
    scratch = Sandbox(seed=seed)
    _, seeded = scratch.create_tenant(DEFAULT_TENANT, fixed=True)
    old = previous or {}
    old_clients = {c.get("client_id"): c for c in old.get("clients", []) if isinstance(c, dict)}
    old_users = {u.get("id"): u for u in old.get("users", []) if isinstance(u, dict)}
    directory, matches = tenant.directory, tenant.directory.secrets.matches

    def known(candidates: list[Any], digest: bytes | None) -> str | None:
        return next((c for c in candidates if isinstance(c, str) and matches(c, digest)), None)

    for client in seeded.clients:
        found = directory.clients.get(client["client_id"])
        old_secret = old_clients.get(client["client_id"], {}).get("client_secret")
        secret = [client["client_secret"], old_secret]
        client["client_secret"] = known(secret, found.secret_digest) if found is not None else None
        if found is not None:
            client["redirect_uris"] = list(found.redirect_uris)
    for user in seeded.users:
        found_user = directory.users.get(user["id"])
        if found_user is None:
            continue
        before = old_users.get(user["id"], {})
        user["email"] = found_user.email
        user["password"] = known([user["password"], before.get("password")], found_user.password_digest)
        if "registration_code" in user:
            codes = [user["registration_code"], before.get("registration_code")]
            user["registration_code"] = known(codes, found_user.registration_code_digest)
    old_tokens = [t.get("token") for t in old.get("personal_tokens", []) if isinstance(t, dict)]
    kept = []
    for entry in seeded.personal_tokens:
        for value in (entry["token"], *old_tokens):
            token = tenant.store.find(value) if isinstance(value, str) else None
            if token is not None and token.user_id == entry["user_id"]:
                kept.append({**entry, "token": value})
                break
    seeded.personal_tokens = kept
    return seeded


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
