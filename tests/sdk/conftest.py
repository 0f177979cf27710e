"""The real `wise-sdk` package against mockwise on real sockets (HTTPS, mTLS), one tenant per test.

`wise-sdk` is generated from Wise's 2026Q3 OpenAPI document: it calls `{base}/2026Q3/me`, not
`/v1/me`, and is configured the way a partner configures it: an environment (base URLs), the
partner's credentials, and an httpx client carrying the partner's client certificate.

Every flow is written once, as a coroutine, and runs with both clients: `WiseClient` (its calls
answer values) and `AsyncWiseClient` (its calls answer awaitables); `done()` takes either.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from wise_sdk import AsyncWiseClient, AsyncWiseOAuth, WiseClient, WiseEnvironment, WiseOAuth

from mockwise.testing import WiseSandbox

VERSION = "2026Q3"
T = TypeVar("T")


class Unrouted(AssertionError):
    """mockwise has no route for a path the SDK called: the 404 that issue 16 is about, as opposed
    to a route's own 404 ("Balance not found")."""


def raise_if_unrouted(response: httpx.Response) -> None:
    # mockwise answers a path no route serves with Spring's 404 and "No message available".
    if response.status_code != 404:
        return
    try:
        body = response.json()
    except ValueError:
        return
    if isinstance(body, dict) and body.get("message") == "No message available":
        raise Unrouted(f"{response.request.method} {response.request.url.path}: no such route in mockwise")


def _sync_hook(response: httpx.Response) -> None:
    response.read()
    raise_if_unrouted(response)


async def _async_hook(response: httpx.Response) -> None:
    await response.aread()
    raise_if_unrouted(response)


async def done(answer: T | Awaitable[T]) -> T:
    """What an SDK call answered: a value (sync client) or an awaitable (async client)."""
    if inspect.isawaitable(answer):
        return await answer
    return answer


@dataclass
class Session:
    """One flow's SDK objects, all of one flavour, sharing one mTLS connection pool."""

    sandbox: WiseSandbox
    is_async: bool
    environment: WiseEnvironment
    http: httpx.Client | httpx.AsyncClient
    oauth: Any  # WiseOAuth | AsyncWiseOAuth

    def client(self, access_token: Any = False, **options: Any) -> Any:
        """An API client (`WiseClient` or `AsyncWiseClient`) sending `access_token` (a token, or a
        callable answering one, as a token manager's `get_access_token`). No automatic retries:
        mockwise's faults are what a test means to see."""
        kind = AsyncWiseClient if self.is_async else WiseClient
        return kind(
            access_token=access_token,
            environment=self.environment,
            httpx_client=self.http,
            max_retries=options.pop("max_retries", 0),
            **options,
        )


Flow = Callable[[Session], Coroutine[Any, Any, None]]


class Sdk:
    """A test's handle on the SDK: `sdk.run(flow)` runs `flow` with the sync or the async client."""

    def __init__(self, sandbox: WiseSandbox, flavour: str) -> None:
        self.sandbox = sandbox
        self.flavour = flavour
        # Where a partner points the SDK: the mTLS host, under the version the SDK was built for.
        self.environment = WiseEnvironment(
            api=f"{sandbox.mtls_api_url}/{VERSION}", cards=sandbox.mtls_api_url
        )

    def run(self, flow: Flow) -> None:
        asyncio.run(self._session(flow))

    async def _session(self, flow: Flow) -> None:
        sandbox = self.sandbox
        credentials = {
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
            "environment": self.environment,
            # The SDK builds wise-sandbox.com authorize URLs; off Wise's hosts it must be told which.
            "authorization_environment": "sandbox",
        }
        if self.flavour == "async":
            async with httpx.AsyncClient(
                verify=sandbox.ssl_context(), event_hooks={"response": [_async_hook]}
            ) as http:
                oauth = AsyncWiseOAuth(httpx_client=http, **credentials)
                await flow(Session(sandbox, True, self.environment, http, oauth))
        else:
            with httpx.Client(verify=sandbox.ssl_context(), event_hooks={"response": [_sync_hook]}) as http:
                sync_oauth = WiseOAuth(httpx_client=http, **credentials)
                await flow(Session(sandbox, False, self.environment, http, sync_oauth))


@pytest.fixture(params=["sync", "async"])
def sdk(request: pytest.FixtureRequest, wise_sandbox: WiseSandbox) -> Sdk:
    """The SDK, sync or async, for this test's tenant of the session's sandbox (`wise_sandbox`)."""
    return Sdk(wise_sandbox, request.param)
