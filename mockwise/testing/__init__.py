"""mockwise for tests: the sandbox on real sockets for a test session, a tenant per test, and the
control-plane client that drives a `mockwise serve` elsewhere.

    from mockwise.testing import WiseServer

    server = WiseServer.start()           # HTTPS and mTLS on free ports, in a background thread
    sandbox = server.new_tenant()         # a fresh tenant: URLs, credentials, clock, faults, journal

The pytest plugin's fixtures (`wise_server`, `wise_sandbox`) hand out the same objects. Names are
imported lazily, so that loading the pytest plugin costs nothing until a fixture is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "WiseServer": "mockwise.testing._server",
    "WiseSandbox": "mockwise.testing._server",
    "SandboxClock": "mockwise.testing._server",
    "SandboxClient": "mockwise.testing._client",
    "TenantClient": "mockwise.testing._client",
    "ControlPlaneError": "mockwise.testing._client",
    "TenantHandle": "mockwise.testing._handles",
    "ClockHandle": "mockwise.testing._handles",
    "JournalHandle": "mockwise.testing._handles",
    "FaultsHandle": "mockwise.testing._handles",
    "CertificatesHandle": "mockwise.testing._handles",
    "ProcessClock": "mockwise.testing._timetravel",
    "WebhooksClient": "mockwise.testing._webhooks",
    "SyncASGITransport": "mockwise._transport.inprocess",
    "ASGITransport": "mockwise._transport.inprocess",
    "Listener": "mockwise._transport.sockets",
    "Runner": "mockwise._transport.sockets",
}

__all__ = [
    "ASGITransport",
    "CertificatesHandle",
    "ClockHandle",
    "ControlPlaneError",
    "FaultsHandle",
    "JournalHandle",
    "Listener",
    "ProcessClock",
    "Runner",
    "SandboxClient",
    "SandboxClock",
    "SyncASGITransport",
    "TenantClient",
    "TenantHandle",
    "WebhooksClient",
    "WiseSandbox",
    "WiseServer",
]

if TYPE_CHECKING:
    from mockwise._transport.inprocess import ASGITransport, SyncASGITransport
    from mockwise._transport.sockets import Listener, Runner
    from mockwise.testing._client import ControlPlaneError, SandboxClient, TenantClient
    from mockwise.testing._handles import (
        CertificatesHandle,
        ClockHandle,
        FaultsHandle,
        JournalHandle,
        TenantHandle,
    )
    from mockwise.testing._server import SandboxClock, WiseSandbox, WiseServer
    from mockwise.testing._timetravel import ProcessClock
    from mockwise.testing._webhooks import WebhooksClient


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mockwise.testing' has no attribute {name!r}")
