"""Webhooks over real sockets (reference §8.4-§8.7): a real HTTPS receiver, mTLS with the sandbox
CA's certificate, certificates the sandbox must not trust, a receiver too slow to answer, and the
addresses a subscription's URL may not reach."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.tenant import Tenant
from mockwise._domain.webhooks import Subscription
from mockwise._transport.sockets import Listener, Runner
from mockwise._transport.webhooks import Dispatcher


class Receiver:
    """A partner's receiver on a real socket: records what arrived, answers as told."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes, dict[str, Any] | None]] = []
        self.status = 200
        self.headers: dict[str, str] = {}
        self.delay = 0.0
        self.app = Starlette(routes=[Route("/wise", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        tls = request.scope.get("extensions", {}).get("tls") or {}
        self.got.append((dict(request.headers), body, tls or None))
        if self.delay:
            await asyncio.sleep(self.delay)
        return Response(status_code=self.status, headers=self.headers)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    yield Sandbox()


@pytest.fixture
def dispatcher(sandbox: Sandbox) -> Iterator[Dispatcher]:
    dispatcher = Dispatcher(sandbox).start()
    yield dispatcher
    dispatcher.stop()


@pytest.fixture
def tenant(sandbox: Sandbox) -> Tenant:
    tenant, _ = sandbox.create_tenant()
    return tenant


def serve(receiver: Receiver, context: ssl.SSLContext) -> tuple[Runner, str]:
    listener = Listener("receiver", ssl=context)
    runner = Runner(receiver.app, [listener])
    runner.start_in_thread()
    return runner, f"https://localhost:{listener.port}/wise"


def server_context(ca: trustme.CA, client_ca_pem: str | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(context)
    if client_ca_pem is not None:  # mTLS: the partner trusts the CA chain Wise provides (§8.7)
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=client_ca_pem)
    return context


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


def subscribe(tenant: Tenant, url: str, mtls: bool = False) -> Subscription:
    client = next(iter(tenant.directory.clients))
    delivery: dict[str, Any] = {"version": "4.0.0", "url": url, "mtls_enabled": mtls}
    body = {"name": "real", "trigger_on": "transfers#state-change", "delivery": delivery}
    return tenant.webhooks.subscribe(
        body, domain="application", scope_id=client, created_by=("application", client), client_id=client
    )


def attempts(tenant: Tenant) -> list[Any]:
    return tenant.webhooks.notifications()[0].attempts


def test_a_real_receiver_gets_a_signed_notification_over_https(
    sandbox: Sandbox, tenant: Tenant, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    runner, url = serve(receiver, server_context(sandbox.pki.ca))  # a certificate from the sandbox CA
    try:
        subscription = subscribe(tenant, url)
        [queued] = tenant.webhooks.test_notifications(subscription)
        assert dispatcher.settle(tenant, 10)
    finally:
        runner.stop_thread()
    [(headers, body, _)] = receiver.got
    assert headers["x-delivery-id"] == queued.delivery_id and headers["x-test-notification"] == "true"
    assert headers["host"] == url.split("/")[2]  # the name, though the connection went to an address
    assert sandbox.webhook_keys.verify(body, headers["x-signature-sha256"])
    [attempt] = attempts(tenant)
    assert attempt.status == 200 and attempt.acknowledged and attempt.latency_ms < 5000


def test_mtls_presents_the_sandbox_cas_webhook_certificate(
    sandbox: Sandbox, tenant: Tenant, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    pki = sandbox.pki
    runner, url = serve(receiver, server_context(pki.ca, client_ca_pem=pki.ca_pem))
    try:
        tenant.clock.freeze()
        plain = subscribe(tenant, url)
        tenant.webhooks.test_notifications(plain)  # no client certificate: the handshake fails
        assert dispatcher.settle(tenant, 10)
        [failed] = attempts(tenant)
        assert failed.status is None and failed.error is not None and not failed.acknowledged
        assert tenant.webhooks.notifications()[0].due == failed.at + 60  # retried on the ladder
        tenant.webhooks.unsubscribe(plain.id)
        mutual = subscribe(tenant, url, mtls=True)
        tenant.webhooks.test_notifications(mutual)
        assert dispatcher.settle(tenant, 10)
    finally:
        runner.stop_thread()
    [(_, _, tls)] = receiver.got
    assert tls is not None and tls["client_cert_chain"]
    from mockwise._pki import inspect_certificate

    presented = inspect_certificate(tls["client_cert_chain"][0])
    assert presented.common_name == "wise-webhooks" and pki.ca_pem and "O=mockwise" in presented.subject
    assert attempts(tenant)[0].acknowledged


def test_an_untrusted_certificate_fails_unless_tls_is_not_verified(
    tenant: Tenant, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    runner, url = serve(receiver, server_context(trustme.CA()))  # self-made: not CA-signed for Wise
    try:
        subscription = subscribe(tenant, url)
        tenant.webhooks.test_notifications(subscription)
        assert dispatcher.settle(tenant, 10)
        [refused] = attempts(tenant)
        assert refused.error is not None and refused.error.startswith("tls_certificate:")
        assert receiver.got == []
        tenant.configure({"webhooks.verify_tls": False})
        tenant.webhooks.test_notifications(subscription)
        assert dispatcher.settle(tenant, 10)
    finally:
        runner.stop_thread()
    assert len(receiver.got) == 1 and tenant.webhooks.notifications()[0].state == "delivered"


def test_a_receiver_slower_than_the_timeout_fails_and_retry_after_is_read(
    sandbox: Sandbox, tenant: Tenant, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    tenant.configure({"webhooks.timeout_ms": 300})  # Wise waits 5 s (§8.5); a test need not
    tenant.clock.freeze()
    runner, url = serve(receiver, server_context(sandbox.pki.ca))
    try:
        subscription = subscribe(tenant, url)
        receiver.delay = 1.0
        tenant.webhooks.test_notifications(subscription)
        assert dispatcher.settle(tenant, 10)
        [slow] = attempts(tenant)
        assert slow.error == "timeout" and 250 <= slow.latency_ms < 1000
        receiver.delay, receiver.status, receiver.headers = 0.0, 503, {"Retry-After": "120"}
        tenant.clock.advance(60)
        assert dispatcher.settle(tenant, 10)
    finally:
        runner.stop_thread()
    n = tenant.webhooks.notifications()[0]
    assert [a.status for a in n.attempts] == [None, 503]
    assert n.attempts[-1].retry_after == 120 and n.due == n.attempts[-1].at + 120


def test_addresses_wise_could_not_reach_are_refused_before_connecting(
    tenant: Tenant, dispatcher: Dispatcher
) -> None:
    tenant.configure({"webhooks.no_ip_address": False, "webhooks.timeout_ms": 200})
    subscription = subscribe(tenant, "https://10.255.255.1/wise")  # private: a container network
    tenant.webhooks.test_notifications(subscription)
    assert dispatcher.settle(tenant, 10)
    [refused] = attempts(tenant)
    assert refused.error is not None and refused.error.startswith("address_refused:")
    assert "webhooks.private_networks" in refused.error and refused.latency_ms < 150
    tenant.configure({"webhooks.private_networks": True})  # now it tries (and finds nobody)
    tenant.clock.advance(60)
    assert dispatcher.settle(tenant, 10)
    assert not (attempts(tenant)[-1].error or "").startswith("address_refused")


def test_loopback_needs_the_localhost_setting_at_delivery_too(
    sandbox: Sandbox, tenant: Tenant, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    runner, url = serve(receiver, server_context(sandbox.pki.ca))
    try:
        subscription = subscribe(tenant, url)
        tenant.configure({"webhooks.localhost": False})  # changed after subscribing
        tenant.webhooks.test_notifications(subscription)
        assert dispatcher.settle(tenant, 10)
    finally:
        runner.stop_thread()
    [refused] = attempts(tenant)
    assert (refused.error or "").startswith("address_refused") and "webhooks.localhost" in (
        refused.error or ""
    )
    assert receiver.got == []


def test_nothing_listening_is_a_failed_attempt_not_a_crash(tenant: Tenant, dispatcher: Dispatcher) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subscription = subscribe(tenant, f"https://localhost:{port}/wise")
    tenant.webhooks.test_notifications(subscription)
    assert dispatcher.settle(tenant, 10)
    [failed] = attempts(tenant)
    assert failed.status is None and failed.error is not None
