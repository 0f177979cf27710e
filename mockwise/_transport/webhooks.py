"""Sending the sandbox's webhooks (reference §8): one dispatcher per sandbox, in a thread of its own.

The dispatcher runs its own event loop, so a slow or silent receiver never holds up the server's
loop or a request. It asks each tenant with work for the attempts due on the tenant's clock
(`Webhooks.take_due`), sends them concurrently (one at a time per subscription, in order), and
hands every outcome back to the domain, which schedules the next attempt (§8.5). It sleeps until
the next attempt is due, or until a tenant says something changed (a notification queued, an
answer recorded, the clock moved: `Sandbox.delivery_listeners`).

Each attempt is a real HTTPS POST (httpx), signed with the sandbox's key (§8.4), presenting the
sandbox CA's `wise-webhooks` certificate when the subscription asks for mTLS (§8.7), verifying the
receiver's certificate against the system's CAs and the sandbox CA (§8.6). A subscription's URL is
the partner's input, so the request goes only where the tenant's settings allow (§8.6, SSRF): the
host is resolved first, the addresses checked (loopback only with `webhooks.localhost`; private,
link-local, shared and reserved ones only with `webhooks.private_networks`), and the connection is
made to a checked address (the name still goes in SNI and `Host`), so a second DNS answer cannot
send it elsewhere. Redirects are not followed (an answer that is not 2xx is a failure), the whole
attempt is bounded by `webhooks.timeout_ms`, and at most 64 KiB of the answer is read.

A receiver may also live in this process (`receivers`, by URL): the contract suites and partner
tests answer deliveries with a function instead of a server. It runs in a worker thread, under the
same timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import httpx

from mockwise._domain.webhooks import MTLS_CLIENT_NAME, Delivery, Outcome, is_local_host

if TYPE_CHECKING:
    from mockwise._domain.sandbox import Sandbox
    from mockwise._domain.tenant import Tenant
    from mockwise._pki import KeyPair

#: A receiver in this process: (headers, raw body) → status, or (status, response headers).
LocalReceiver = Callable[[Mapping[str, str], bytes], "int | tuple[int, Mapping[str, str]]"]

LOG = logging.getLogger("mockwise.webhooks")
CONCURRENCY = 16  # attempts in flight at once, all tenants together
MAX_ANSWER = 64 * 1024  # bytes of a receiver's answer read (only its status and Retry-After matter)
IDLE_WAKE = 1.0  # seconds the dispatcher sleeps at most between looks (a running clock moves on)
SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: not Wise-reachable either


@dataclass(frozen=True, slots=True)
class _Refused(Exception):
    error: str


class Dispatcher:
    """Sends one sandbox's webhooks from a background thread; `start()` it once."""

    def __init__(self, sandbox: Sandbox, concurrency: int = CONCURRENCY) -> None:
        self.sandbox = sandbox
        self.receivers: dict[str, LocalReceiver] = {}
        """Receivers in this process, by the exact URL a subscription names."""
        self._concurrency = concurrency
        self._active: set[str] = set(sandbox.tenants)  # tenants that may have work
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._clients: dict[tuple[bool, bool], httpx.AsyncClient] = {}
        self._client_cert: KeyPair | None = None
        self._workers = ThreadPoolExecutor(max_workers=32, thread_name_prefix="mockwise-receiver")
        self._listener = self._notified

    # Life ----------------------------------------------------------------------------------------

    def start(self) -> Dispatcher:
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._main, args=(started,), name="mockwise-webhooks", daemon=True
        )
        self._thread.start()
        started.wait(5)
        self.sandbox.delivery_listeners.append(self._listener)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(ValueError):
            self.sandbox.delivery_listeners.remove(self._listener)
        self._stopping = True
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._workers.shutdown(wait=False, cancel_futures=True)

    def _main(self, started: threading.Event) -> None:
        with asyncio.Runner() as runner:
            runner.run(self._serve(started))

    async def _serve(self, started: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        started.set()
        slots = asyncio.Semaphore(self._concurrency)
        running: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping:
                self._wakeup.clear()
                for tenant, delivery in self._due():
                    await slots.acquire()
                    task = asyncio.create_task(self._attempt(tenant, delivery, slots))
                    running.add(task)
                    task.add_done_callback(running.discard)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._sleep())
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            for client in self._clients.values():
                await client.aclose()

    # Waking and choosing -------------------------------------------------------------------------

    def _notified(self, tenant_id: str) -> None:
        with self._lock:
            self._active.add(tenant_id)
        self.wake()

    def wake(self) -> None:
        """Look for due attempts now (safe from any thread)."""
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(wakeup.set)

    def _due(self) -> list[tuple[Tenant, Delivery]]:
        with self._lock:
            active = list(self._active)
        due: list[tuple[Tenant, Delivery]] = []
        for tenant_id in active:
            tenant = self.sandbox.tenants.get(tenant_id)
            try:
                if tenant is None or not tenant.webhooks.has_work():
                    with self._lock:  # nothing left to send: forget it until it says otherwise
                        self._active.discard(tenant_id)
                    continue
                due += [(tenant, d) for d in tenant.webhooks.take_due(tenant.clock.now())]
            except Exception:  # a bug must not stop every tenant's deliveries: log it, go on
                LOG.exception("webhooks of tenant %s: choosing what is due failed", tenant_id)
        return due

    def _sleep(self) -> float:
        """Seconds until the next attempt is due (each tenant's clock running at the system's pace)."""
        soonest = IDLE_WAKE
        with self._lock:
            active = list(self._active)
        for tenant_id in active:
            tenant = self.sandbox.tenants.get(tenant_id)
            due = tenant.webhooks.next_due() if tenant is not None else None
            if due is not None and tenant is not None and not tenant.clock.frozen:
                soonest = min(soonest, max(0.0, due - tenant.clock.now()))
        return max(soonest, 0.001)

    def settle(self, tenant: Tenant, timeout: float = 10.0) -> bool:
        """Wait (from another thread) until the tenant has no attempt due now or in flight;
        whether it got there within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        self.wake()
        while tenant.webhooks.busy(tenant.clock.now()):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    # One attempt ---------------------------------------------------------------------------------

    async def _attempt(self, tenant: Tenant, delivery: Delivery, slots: asyncio.Semaphore) -> None:
        """Make one attempt and record what came of it, whatever happens (a notification left in
        flight would never be sent again)."""
        wall, began = time.time(), time.perf_counter()
        try:
            headers = delivery.headers(self.sandbox.webhook_keys)  # signing is ours: not the receiver's time
            wall, began = time.time(), time.perf_counter()
            status, retry_after = await asyncio.wait_for(self._send(delivery, headers), delivery.timeout)
            outcome = Outcome(status=status, retry_after=retry_after)
        except TimeoutError:
            outcome = Outcome(error="timeout")
        except _Refused as refused:
            outcome = Outcome(error=refused.error)
        except Exception as exc:
            outcome = Outcome(error=_describe(exc))
        finally:
            slots.release()
        done = time.time()
        latency = int((time.perf_counter() - began) * 1000)
        outcome = Outcome(outcome.status, outcome.error, latency, outcome.retry_after, wall, done)
        try:
            await asyncio.to_thread(tenant.webhooks.attempted, delivery, outcome)  # takes the tenant's lock
        except Exception:
            LOG.exception("webhooks of tenant %s: recording an attempt failed", tenant.id)

    async def _send(self, delivery: Delivery, headers: dict[str, str]) -> tuple[int, str | None]:
        local = self.receivers.get(delivery.url)
        if local is not None:
            return await self._ask_local(local, headers, delivery.body)
        parts = urlsplit(delivery.url)
        host = parts.hostname or ""
        https = parts.scheme.lower() == "https"
        port = parts.port or (443 if https else 80)
        addresses = await self._checked_addresses(host, port, delivery)
        headers["Host"] = parts.netloc.rpartition("@")[2]
        extensions = {"sni_hostname": host} if https and not _is_address(host) else {}
        client = self._client(delivery.mtls, delivery.verify_tls)
        for tried, address in enumerate(addresses, 1):  # `localhost` may be ::1 and 127.0.0.1
            netloc = f"[{address}]" if address.version == 6 else str(address)
            target = urlunsplit((parts.scheme, f"{netloc}:{port}", parts.path or "/", parts.query, ""))
            try:
                async with client.stream(
                    "POST", target, content=delivery.body, headers=headers, extensions=extensions
                ) as answer:
                    read = 0
                    async for chunk in answer.aiter_raw():
                        read += len(chunk)
                        if read >= MAX_ANSWER:
                            break
                    return answer.status_code, answer.headers.get("retry-after")
            except httpx.ConnectError as exc:
                if tried == len(addresses) or not _refused(exc):
                    raise
        raise AssertionError("unreachable: the last address re-raises")

    async def _ask_local(
        self, receiver: LocalReceiver, headers: dict[str, str], body: bytes
    ) -> tuple[int, str | None]:
        assert self._loop is not None
        answer = await self._loop.run_in_executor(self._workers, receiver, dict(headers), body)
        if isinstance(answer, tuple):
            status, answered = answer
            return int(status), {k.lower(): v for k, v in answered.items()}.get("retry-after")
        return int(answer), None

    async def _checked_addresses(
        self, host: str, port: int, delivery: Delivery
    ) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        """The addresses of `host` the tenant's settings let the sandbox connect to (§8.6)."""
        assert self._loop is not None
        try:
            infos = await self._loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise _Refused(f"dns: {host} does not resolve ({exc.strerror or exc})") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(i[4][0]).partition("%")[0]) for i in infos))
        allowed = [a for a in addresses if _reachable(a, delivery, host)]
        if allowed:
            return allowed
        shown = ", ".join(sorted({str(a) for a in addresses}))
        reason = (
            "webhooks.localhost" if any(a.is_loopback for a in addresses) else "webhooks.private_networks"
        )
        raise _Refused(f"address_refused: {host} resolves to {shown}, which Wise could not reach ({reason})")

    def _client(self, mtls: bool, verify: bool) -> httpx.AsyncClient:
        key = (mtls, verify)
        if key not in self._clients:
            self._clients[key] = httpx.AsyncClient(
                verify=self._context(mtls, verify),
                follow_redirects=False,
                trust_env=False,  # no proxy from the environment: the address checked is the one used
                timeout=httpx.Timeout(60.0),  # each attempt has its own, shorter deadline (wait_for)
                limits=httpx.Limits(max_connections=self._concurrency, max_keepalive_connections=8),
            )
        return self._clients[key]

    def _context(self, mtls: bool, verify: bool) -> ssl.SSLContext:
        """The system's CAs and the sandbox CA (a receiver's certificate from `mockwise certs` or the
        test fixtures is trusted, §8.6); the `wise-webhooks` certificate for mTLS (§8.7)."""
        context = ssl.create_default_context()
        with contextlib.suppress(ImportError, OSError):
            import certifi

            context.load_verify_locations(certifi.where())
        pki = self.sandbox.pki
        context.load_verify_locations(cadata=pki.ca_pem)
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if mtls:
            if self._client_cert is None:
                now = time.time()
                self._client_cert = pki.issue_client(
                    MTLS_CLIENT_NAME, "mockwise", not_before=now - 86400, not_after=now + 365 * 86400
                )
            self._client_cert.configure_cert(context)
        return context


def _reachable(address: ipaddress.IPv4Address | ipaddress.IPv6Address, delivery: Delivery, host: str) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return (delivery.localhost and is_local_host(host)) or delivery.private_networks
    if (
        address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or (address.version == 4 and address in SHARED)
    ):
        return delivery.private_networks
    return True


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _refused(exc: BaseException) -> bool:
    """Whether a connection failed because nothing listens at that address (try the next one)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError | OSError) and not isinstance(cause, ssl.SSLError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _describe(exc: BaseException) -> str:
    """A failed attempt's reason, short: what a partner needs to fix it."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"tls_certificate: {cause.verify_message or cause.reason}"
        if isinstance(cause, ssl.SSLError):
            return f"tls: {cause.reason or cause}"
        if isinstance(cause, ConnectionRefusedError):
            return "refused: nothing listens there"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.RemoteProtocolError):
        return "protocol: the receiver's answer is not HTTP/1.1"
    if isinstance(exc, httpx.ConnectError):
        return f"connection: {str(exc)[:160]}"
    return f"{type(exc).__name__}: {str(exc)[:160]}"


# One dispatcher per sandbox ------------------------------------------------------------------------

_DISPATCHERS: weakref.WeakKeyDictionary[Sandbox, Dispatcher] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def dispatcher_for(sandbox: Sandbox) -> Dispatcher:
    """The sandbox's running dispatcher, started on first use."""
    with _GUARD:
        dispatcher = _DISPATCHERS.get(sandbox)
        if dispatcher is None:
            dispatcher = _DISPATCHERS[sandbox] = Dispatcher(sandbox).start()
        return dispatcher


def stop_dispatcher(sandbox: Sandbox) -> None:
    with _GUARD:
        dispatcher = _DISPATCHERS.pop(sandbox, None)
    if dispatcher is not None:
        dispatcher.stop()
