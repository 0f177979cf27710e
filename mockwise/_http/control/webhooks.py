"""Webhooks on the control plane (reference §8): subscribe without a token, send any event type with
chosen data, read the delivery log (each attempt, its status and latency), wait until what is due
has gone, and the dashboard's page of it. The sandbox's public signing key is published here too,
to anyone (it is public: a receiver in another container fetches it without the admin token).

Faults on the way out are armed like any fault (`POST …/faults` with a `webhook_*` kind).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mockwise._domain.clock import iso_millis
from mockwise._domain.errors import ValidationError
from mockwise._domain.webhooks import MAX_EVENT_DATA, Notification, Subscription
from mockwise._http.control.common import (
    PREFIX,
    ControlError,
    body_of,
    endpoint,
    field,
    known_parameters,
    sandbox_of,
    tenant_of,
)
from mockwise._http.control.dashboard.pages import ROWS, render_tenant
from mockwise._http.control.paging import link, next_offset, window_of
from mockwise._http.responses import WiseJSON

PUBLIC_KEY_PATH = "/webhooks/public-key.pem"
STATES = ("pending", "delivered", "failed", "forged", "cancelled")
LONGEST_SETTLE = 60.0


def subscription_json(subscription: Subscription) -> dict[str, Any]:
    return {
        **subscription.as_wise(),
        "client_id": subscription.client_id,
        "profile_id": subscription.profile_id,
    }


def notification_json(n: Notification, full: bool = False) -> dict[str, Any]:
    data = n.as_json() if full else n.summary()
    data["created_at"] = iso_millis(n.created_at)
    data["due"] = iso_millis(n.due) if n.due is not None else None
    if full:
        for attempt in data["attempts"]:
            attempt["at"] = iso_millis(attempt["at"])
    return data


@endpoint
async def public_key(request: Request) -> Response:
    """
    summary: The public key the sandbox signs webhooks with (PEM)
    description: >
      Verify `X-Signature-SHA256` with it: RSA PKCS#1 v1.5, SHA-256, over the raw body (reference
      §8.4). Open to every caller: it is public, as Wise's is.
    tags: [webhooks]
    responses:
      200: {description: "SubjectPublicKeyInfo PEM.", content: {application/x-pem-file: {}}}
    """
    pem = sandbox_of(request).webhook_keys.public_pem
    return Response(pem, media_type="application/x-pem-file")


@endpoint
async def overview(request: Request) -> Response:
    """
    summary: The tenant's webhook subscriptions, and the key notifications are signed with
    tags: [webhooks]
    responses:
      200: {description: "{subscriptions, public_key, counts}"}
    """
    tenant = tenant_of(request)
    notifications = tenant.webhooks.notifications()
    counts = {state: sum(1 for n in notifications if n.state == state) for state in STATES}
    return WiseJSON(
        {
            "subscriptions": [subscription_json(s) for s in tenant.webhooks.subscriptions()],
            "public_key": sandbox_of(request).webhook_keys.public_pem,
            "counts": counts,
            "dropped": tenant.webhooks.dropped,
        }
    )


@endpoint
async def subscribe(request: Request) -> Response:
    """
    summary: Subscribe without a token (as the data plane's POST …/subscriptions would)
    description: >
      `level` "application" (with `client_id`, default the tenant's first client) or "profile"
      (with `profile_id`), then Wise's fields: `name` (default "mockwise"), `trigger_on`,
      `delivery: {version, url, mtls_enabled}`. The same rules as the API (reference §8.1, §8.6):
      a refused body is a 400 listing Wise's validation errors.
    tags: [webhooks]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [trigger_on, delivery]
            properties:
              level: {type: string, enum: [application, profile]}
              client_id: {type: string}
              profile_id: {type: integer}
              name: {type: string}
              trigger_on: {type: string}
              delivery:
                type: object
                properties:
                  version: {type: string}
                  url: {type: string}
                  mtls_enabled: {type: boolean}
          example:
            trigger_on: "transfers#state-change"
            delivery: {version: "4.0.0", url: "https://localhost:9443/wise/webhooks"}
    responses:
      201: {description: "The subscription."}
      400: {description: "Wise's validation errors, as `errors`."}
      404: {description: "No such client or profile."}
    """
    tenant = tenant_of(request)
    data = await body_of(request)
    level = field(data, "level", str, "application")
    # both checked whatever the level: a field of the wrong type (or null) is refused, never ignored
    client_id = field(data, "client_id", str) if "client_id" in data else None
    profile_id = field(data, "profile_id", int) if "profile_id" in data else None
    wise = {k: v for k, v in data.items() if k not in ("level", "client_id", "profile_id")}
    wise.setdefault("name", "mockwise")
    try:
        if level == "application":
            client_id = client_id or next(iter(tenant.directory.clients), None)
            if client_id is None:
                raise ControlError(400, "invalid_request", "missing 'client_id'")
            tenant.client(client_id)
            made = tenant.webhooks.subscribe(
                wise,
                domain="application",
                scope_id=client_id,
                created_by=("application", client_id),
                client_id=client_id,
            )
        elif level == "profile":
            if profile_id is None:
                raise ControlError(400, "invalid_request", "missing 'profile_id'")
            profile = tenant.directory.profile(profile_id)
            made = tenant.webhooks.subscribe(
                wise,
                domain="profile",
                scope_id=str(profile.id),
                created_by=("user", str(profile.user_id)),
                profile_id=profile.id,
            )
        else:
            raise ControlError(400, "invalid_request", "'level' is application or profile")
    except ValidationError as refused:  # Wise's errors, as the API would answer them
        errors = refused.body("", 0.0)["errors"]
        return WiseJSON({"error": "invalid_request", "message": str(refused), "errors": errors}, 400)
    return WiseJSON(subscription_json(made), 201)


@endpoint
async def unsubscribe(request: Request) -> Response:
    """
    summary: Delete a subscription (its notifications not yet delivered are cancelled)
    tags: [webhooks]
    responses:
      204: {description: "Deleted."}
      404: {description: "No such subscription."}
    """
    tenant_of(request).webhooks.unsubscribe(request.path_params["subscription_id"])
    return Response(status_code=204)


@endpoint
async def test_notifications(request: Request) -> Response:
    """
    summary: Send a subscription test notifications (as the API's test-notifications, any level)
    tags: [webhooks]
    responses:
      201: {description: "The notifications queued."}
      404: {description: "No such subscription."}
    """
    tenant = tenant_of(request)
    await body_of(request)  # none is needed; one that is not JSON is refused like anywhere else
    subscription = tenant.webhooks.subscription(request.path_params["subscription_id"])
    queued = tenant.webhooks.test_notifications(subscription)
    return WiseJSON({"notifications": [notification_json(n) for n in queued]}, 201)


@endpoint
async def send_event(request: Request) -> Response:
    """
    summary: Send any event type with chosen data
    description: >
      Queues a notification whose `data` is the object given, to every subscription listening for
      `event_type`, or to the one `subscription_id` names (which then gets it whatever its type:
      Wise may add types, reference §8.3). `test: true` marks it as a test notification. The
      envelope, signature and delivery are the sandbox's, as for any notification (§8.2, §8.4).
    tags: [webhooks]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [event_type, data]
            properties:
              event_type: {type: string, minLength: 1, maxLength: 100}
              data: {type: object}
              subscription_id: {type: [string, "null"], description: "null or absent: every listener"}
              test: {type: boolean}
          example:
            event_type: "transfers#state-change"
            data:
              resource: {type: transfer, id: 111, profile_id: 222, account_id: 333}
              current_state: outgoing_payment_sent
              previous_state: funds_converted
              occurred_at: "2026-01-01T12:34:56.789Z"
    responses:
      201: {description: "The notifications queued (none when nothing listens)."}
      400: {description: "A bad field, or data too large."}
      404: {description: "No such subscription."}
    """
    tenant = tenant_of(request)
    data = await body_of(request)
    event_type = field(data, "event_type", str, required=True)
    if not 0 < len(event_type) <= 100 or not event_type.isprintable():
        raise ControlError(400, "invalid_request", "'event_type' is 1-100 printable characters")
    payload = field(data, "data", dict, required=True)
    if len(json.dumps(payload)) > MAX_EVENT_DATA:
        raise ControlError(400, "invalid_request", f"'data' is at most {MAX_EVENT_DATA // 1024} KiB of JSON")
    chosen = field(data, "subscription_id", str, None)
    subscriptions = [tenant.webhooks.subscription(chosen)] if chosen is not None else None
    queued = tenant.webhooks.send(
        event_type, payload, subscriptions=subscriptions, test=field(data, "test", bool, False)
    )
    return WiseJSON({"notifications": [notification_json(n) for n in queued]}, 201)


DELIVERY_FILTERS = ("state", "subscription_id", "event_type")


@endpoint
async def deliveries(request: Request) -> Response:
    """
    summary: The delivery log, newest first
    description: >
      One page (`limit`, `offset`) of notifications with their state, attempts and last answer,
      filtered by `state`, `subscription_id` or `event_type`. `GET …/deliveries/{delivery_id}` has
      each attempt (its tenant-clock time, status or error, latency, signature, fault) and the body.
    tags: [webhooks]
    parameters:
      - name: state
        in: query
        schema: {type: string, enum: ["", pending, delivered, failed, forged, cancelled]}
      - {name: subscription_id, in: query, schema: {type: string}}
      - {name: event_type, in: query, schema: {type: string}}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 1000, default: 100}}
      - {name: offset, in: query, schema: {type: integer, minimum: 0, maximum: 1000000000000, default: 0}}
    responses:
      200: {description: "{deliveries, total, offset, limit, next}"}
      400: {description: "An unknown parameter or state."}
    """
    known_parameters(request, "limit", "offset", *DELIVERY_FILTERS)
    tenant = tenant_of(request)
    wanted = {k: request.query_params.get(k, "") for k in DELIVERY_FILTERS}
    if wanted["state"] and wanted["state"] not in STATES:
        raise ControlError(400, "invalid_request", f"'state' is one of {', '.join(STATES)}")
    found = [
        n
        for n in tenant.webhooks.notifications()
        if (not wanted["state"] or n.state == wanted["state"])
        and (not wanted["subscription_id"] or n.subscription_id == wanted["subscription_id"])
        and (not wanted["event_type"] or n.event_type == wanted["event_type"])
    ]
    window = window_of(request)
    page = found[window.offset : window.offset + window.limit]
    return WiseJSON(
        {
            "deliveries": [notification_json(n) for n in page],
            "total": len(found),
            "offset": window.offset,
            "limit": window.limit,
            "next": next_offset(request, window, len(found)),
        }
    )


@endpoint
async def delivery(request: Request) -> Response:
    """
    summary: One notification, with every attempt and its body
    tags: [webhooks]
    responses:
      200: {description: "The notification."}
      404: {description: "No such notification kept."}
    """
    tenant = tenant_of(request)
    return WiseJSON(notification_json(tenant.webhooks.notification(request.path_params["delivery_id"]), True))


@endpoint
async def settle(request: Request) -> Response:
    """
    summary: Wait until nothing is due now or in flight
    description: >
      Answers once every attempt due by the tenant's clock has been made (a test's "then", after
      it triggers an event), or after `timeout` seconds (default 10, at most 60). Attempts due
      later (retries) are not waited for: move the clock.
    tags: [webhooks]
    requestBody:
      content:
        application/json:
          schema: {type: object, properties: {timeout: {type: number, minimum: 0, maximum: 60}}}
    responses:
      200: {description: "{settled, pending, next_due}"}
    """
    tenant = tenant_of(request)
    data = await body_of(request)
    timeout = float(field(data, "timeout", (int, float), 10.0))
    if not 0 <= timeout <= LONGEST_SETTLE:
        raise ControlError(400, "invalid_request", f"'timeout' is 0 to {LONGEST_SETTLE:g} seconds")
    deadline = time.monotonic() + timeout
    webhooks = tenant.webhooks
    while webhooks.busy(tenant.clock.now()) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    busy = webhooks.busy(tenant.clock.now())
    pending = sum(1 for n in webhooks.notifications() if n.state == "pending")
    due = webhooks.next_due()
    return WiseJSON({"settled": not busy, "pending": pending, "next_due": iso_millis(due) if due else None})


# The dashboard's page --------------------------------------------------------------------------


@endpoint
async def webhooks_page(request: Request) -> Response:
    """
    summary: Dashboard (HTML) for a tenant's webhooks
    description: >
      Subscriptions (a test notification each), the newest 50 notifications (`offset` for older)
      with their state, attempts, last answer and latency, and the public key; each notification
      opens to its attempts and body.
    tags: [dashboard]
    parameters:
      - {name: offset, in: query, schema: {type: integer, minimum: 0, maximum: 1000000000000, default: 0}}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 1000, default: 50}}
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
      404: {description: "No such tenant."}
    """
    known_parameters(request, "offset", "limit")
    tenant = tenant_of(request)
    window = window_of(request, ROWS)
    notifications = tenant.webhooks.notifications()
    rows = []
    for n in notifications[window.offset : window.offset + window.limit]:
        last = n.attempts[-1] if n.attempts else None
        rows.append(
            notification_json(n)
            | {
                "latency_ms": last.latency_ms if last else None,
                "last_at": iso_millis(last.at) if last else None,
            }
        )
    return render_tenant(
        request,
        tenant,
        "control/webhooks.html",
        "webhooks",
        subscriptions=[subscription_json(s) for s in tenant.webhooks.subscriptions()],
        notifications=rows,
        total=len(notifications),
        dropped=tenant.webhooks.dropped,
        public_key=sandbox_of(request).webhook_keys.public_pem,
        key_url=f"{PREFIX}{PUBLIC_KEY_PATH}",
        next=next_offset(request, window, len(notifications)),
        previous=link(request, offset=max(0, window.offset - window.limit)) if window.offset else None,
    )


@endpoint
async def delivery_page(request: Request) -> Response:
    """
    summary: Dashboard (HTML) for one notification
    description: Its attempts (tenant-clock time, status or error, latency, delivery id, signature,
      fault) and its body as sent.
    tags: [dashboard]
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
      404: {description: "No such tenant, or no such notification kept."}
    """
    tenant = tenant_of(request)
    n = tenant.webhooks.notification(request.path_params["delivery_id"])
    data = notification_json(n, full=True)
    try:
        data["pretty"] = json.dumps(json.loads(n.body), indent=2, ensure_ascii=False)
    except ValueError:
        data["pretty"] = n.body
    return render_tenant(request, tenant, "control/delivery.html", "webhooks", n=data)


def tenant_routes() -> list[BaseRoute]:
    return [
        Route("/webhooks", overview, methods=["GET"]),
        Route("/webhooks/subscriptions", subscribe, methods=["POST"]),
        Route("/webhooks/subscriptions/{subscription_id}", unsubscribe, methods=["DELETE"]),
        Route(
            "/webhooks/subscriptions/{subscription_id}/test-notifications",
            test_notifications,
            methods=["POST"],
        ),
        Route("/webhooks/events", send_event, methods=["POST"]),
        Route("/webhooks/deliveries", deliveries, methods=["GET"]),
        Route("/webhooks/deliveries/{delivery_id}", delivery, methods=["GET"]),
        Route("/webhooks/settle", settle, methods=["POST"]),
        Route("/dashboard/webhooks", webhooks_page, methods=["GET"]),
        Route("/dashboard/webhooks/{delivery_id}", delivery_page, methods=["GET"]),
    ]


def site_routes() -> list[BaseRoute]:
    return [Route(PUBLIC_KEY_PATH, public_key, methods=["GET"])]
