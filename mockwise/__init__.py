"""mockwise: a sandbox fake of the Wise Platform API's authentication surface.

    from mockwise import Sandbox, create_app

    sandbox = Sandbox()
    tenant, creds = sandbox.create_tenant()
    app = create_app(sandbox)          # an ASGI app: serve it, or talk to it with httpx.ASGITransport

Names are imported lazily so that loading the pytest plugin costs nothing until it is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from mockwise._version import __version__

_EXPORTS = {
    "Sandbox": "mockwise._domain.sandbox",
    "Tenant": "mockwise._domain.tenant",
    "Clock": "mockwise._domain.clock",
    "Settings": "mockwise._domain.settings",
    "Credentials": "mockwise._domain.seed",
    "TokenState": "mockwise._domain.tokens",
    "TokenKind": "mockwise._domain.tokens",
    "EndReason": "mockwise._domain.tokens",
    "create_app": "mockwise._http.app",
    "SqliteStore": "mockwise._store.sqlite",
}

__all__ = [
    "Clock",
    "Credentials",
    "EndReason",
    "Sandbox",
    "Settings",
    "SqliteStore",
    "Tenant",
    "TokenKind",
    "TokenState",
    "__version__",
    "create_app",
]

if TYPE_CHECKING:
    from mockwise._domain.clock import Clock
    from mockwise._domain.sandbox import Sandbox
    from mockwise._domain.seed import Credentials
    from mockwise._domain.settings import Settings
    from mockwise._domain.tenant import Tenant
    from mockwise._domain.tokens import EndReason, TokenKind, TokenState
    from mockwise._http.app import create_app
    from mockwise._store.sqlite import SqliteStore


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mockwise' has no attribute {name!r}")
