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

__version__ = "0.1.0"

_EXPORTS = {
    "Sandbox": "mockwise.domain.sandbox",
    "Tenant": "mockwise.domain.tenant",
    "Clock": "mockwise.domain.clock",
    "Settings": "mockwise.domain.fidelity",
    "Credentials": "mockwise.domain.seed",
    "TokenState": "mockwise.domain.tokens",
    "TokenKind": "mockwise.domain.tokens",
    "EndReason": "mockwise.domain.tokens",
    "create_app": "mockwise.http.app",
}

__all__ = [
    "Clock",
    "Credentials",
    "EndReason",
    "Sandbox",
    "Settings",
    "Tenant",
    "TokenKind",
    "TokenState",
    "create_app",
]

if TYPE_CHECKING:
    from mockwise.domain.clock import Clock
    from mockwise.domain.fidelity import Settings
    from mockwise.domain.sandbox import Sandbox
    from mockwise.domain.seed import Credentials
    from mockwise.domain.tenant import Tenant
    from mockwise.domain.tokens import EndReason, TokenKind, TokenState
    from mockwise.http.app import create_app


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mockwise' has no attribute {name!r}")
