"""Webhook subscriptions over the API, at both levels (reference §8.1), and test notifications (§8.8).

Application subscriptions take a client-credentials token whose client is the path's client key
(the sandbox's client keys are its client ids); profile subscriptions take a user or personal token
that may act on the profile. Creating answers 200, deleting 204, as Wise documents; a refused body
gets Wise's validation errors (the domain's `_parse`).
"""

from __future__ import annotations

from starlette.responses import Response

from mockwise._domain.clock import iso_seconds
from mockwise._domain.errors import forbidden, not_found
from mockwise._domain.webhooks import Subscription
from mockwise._http.pipeline import Call, endpoint
from mockwise._http.responses import WiseJSON

APPLICATION = "/v3/applications/{client_key}/subscriptions"
PROFILE = "/v3/profiles/{profile_id:int}/subscriptions"
ONE = "/{subscription_id}"


def _application(call: Call) -> str:
    """The client key of the path, which must be the token's own client (§8.1)."""
    client = call.bearer.require_partner()
    key = str(call.path_params["client_key"])
    if key != client.client_id:
        raise forbidden("This client credentials token is not for this client key")
    return key


def _profile(call: Call) -> tuple[str, int]:
    """The profile of the path (one the token may act on) and the token's user id (§8.1)."""
    profile = call.bearer.profile(call.path_params["profile_id"])
    return str(profile.id), call.bearer.user().id


def _one(call: Call, domain: str, scope_id: str) -> Subscription:
    try:
        return call.bearer.tenant.webhooks.subscription(
            str(call.path_params["subscription_id"]),
            "application" if domain == "application" else "profile",
            scope_id,
        )
    except LookupError:
        raise not_found("Subscription not found") from None


async def create_application_subscription(call: Call) -> Response:
    """
    summary: Create an application webhook subscription
    description: >
      `name`, `trigger_on` (an event type application subscriptions may take, reference §8.3) and
      `delivery: {version, url}`, with `delivery.mtls_enabled: true` for mTLS delivery (§8.7). The
      URL must follow Wise's rules as the tenant's `webhooks.*` settings apply them (§8.6).
    tags: [webhooks]
    security: [{bearerAuth: []}]
    requestBody:
      required: true
      content:
        application/json:
          schema: {$ref: "#/components/schemas/SubscriptionRequest"}
          example:
            name: "Webhook Subscription #1"
            trigger_on: "transfers#state-change"
            delivery: {version: "4.0.0", url: "https://webhooks.example.com/wise"}
    responses:
      200: {description: "The subscription (Wise answers 200, not 201)."}
      400: {$ref: "#/components/responses/ValidationErrors"}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
    """
    key = _application(call)
    client_id = call.bearer.token.client_id
    assert client_id is not None
    subscription = call.bearer.tenant.webhooks.subscribe(
        await call.json(),
        domain="application",
        scope_id=key,
        created_by=("application", client_id),
        client_id=client_id,
    )
    return WiseJSON(subscription.as_wise())


async def list_application_subscriptions(call: Call) -> Response:
    """
    summary: List the application's webhook subscriptions
    tags: [webhooks]
    security: [{bearerAuth: []}]
    responses:
      200: {description: "An array of subscriptions."}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
    """
    key = _application(call)
    found = call.bearer.tenant.webhooks.subscriptions("application", key)
    return WiseJSON([s.as_wise(listing=True) for s in found])


async def get_application_subscription(call: Call) -> Response:
    """
    summary: One application webhook subscription
    tags: [webhooks]
    security: [{bearerAuth: []}]
    responses:
      200: {description: "The subscription."}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
      404: {$ref: "#/components/responses/SpringError"}
    """
    return WiseJSON(_one(call, "application", _application(call)).as_wise())


async def delete_application_subscription(call: Call) -> Response:
    """
    summary: Delete an application webhook subscription
    description: Its notifications not yet delivered are cancelled.
    tags: [webhooks]
    security: [{bearerAuth: []}]
    responses:
      204: {description: "Deleted."}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
      404: {$ref: "#/components/responses/SpringError"}
    """
    subscription = _one(call, "application", _application(call))
    call.bearer.tenant.webhooks.unsubscribe(subscription.id)
    return Response(status_code=204)


async def test_notifications(call: Call) -> Response:
    """
    summary: Send test notifications to an application subscription
    description: >
      Queues a test notification (reference §8.8): the subscription's event type and version,
      dummy data (ids of zero, the current time), `X-Test-Notification: true`; delivered and retried
      like real ones. Answers the delivery ids queued. Profile subscriptions cannot ask for them.
    tags: [webhooks]
    security: [{bearerAuth: []}]
    responses:
      200: {description: "[{delivery_id, created_at}]"}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
      404: {$ref: "#/components/responses/SpringError"}
    """
    subscription = _one(call, "application", _application(call))
    queued = call.bearer.tenant.webhooks.test_notifications(subscription)
    return WiseJSON([{"delivery_id": n.delivery_id, "created_at": iso_seconds(n.created_at)} for n in queued])


async def create_profile_subscription(call: Call) -> Response:
    """
    summary: Create a profile webhook subscription
    description: >
      As the application level, for an event type profile subscriptions may take (reference §8.3),
      with a user or personal token that may act on the profile.
    tags: [webhooks]
    security: [{bearerAuth: []}]
    requestBody:
      required: true
      content:
        application/json:
          schema: {$ref: "#/components/schemas/SubscriptionRequest"}
    responses:
      200: {description: "The subscription."}
      400: {$ref: "#/components/responses/ValidationErrors"}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
    """
    profile_id, user_id = _profile(call)
    subscription = call.bearer.tenant.webhooks.subscribe(
        await call.json(),
        domain="profile",
        scope_id=profile_id,
        created_by=("user", str(user_id)),
        profile_id=int(profile_id),
    )
    return WiseJSON(subscription.as_wise())


async def list_profile_subscriptions(call: Call) -> Response:
    """
    summary: List the profile's webhook subscriptions
    tags: [webhooks]
    security: [{bearerAuth: []}]
    responses:
      200: {description: "An array of subscriptions."}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
    """
    profile_id, _ = _profile(call)
    found = call.bearer.tenant.webhooks.subscriptions("profile", profile_id)
    return WiseJSON([s.as_wise(listing=True) for s in found])


async def get_profile_subscription(call: Call) -> Response:
    """
    summary: One profile webhook subscription
    tags: [webhooks]
    security: [{bearerAuth: []}]
    responses:
      200: {description: "The subscription."}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
      404: {$ref: "#/components/responses/SpringError"}
    """
    profile_id, _ = _profile(call)
    return WiseJSON(_one(call, "profile", profile_id).as_wise())


async def delete_profile_subscription(call: Call) -> Response:
    """
    summary: Delete a profile webhook subscription
    tags: [webhooks]
    security: [{bearerAuth: []}]
    responses:
      204: {description: "Deleted."}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
      404: {$ref: "#/components/responses/SpringError"}
    """
    profile_id, _ = _profile(call)
    subscription = _one(call, "profile", profile_id)
    call.bearer.tenant.webhooks.unsubscribe(subscription.id)
    return Response(status_code=204)


routes = [
    endpoint(APPLICATION, create_application_subscription, methods=["POST"]),
    endpoint(APPLICATION, list_application_subscriptions, methods=["GET"]),
    endpoint(APPLICATION + ONE, get_application_subscription, methods=["GET"]),
    endpoint(APPLICATION + ONE, delete_application_subscription, methods=["DELETE"]),
    endpoint(APPLICATION + ONE + "/test-notifications", test_notifications, methods=["POST"]),
    endpoint(PROFILE, create_profile_subscription, methods=["POST"]),
    endpoint(PROFILE, list_profile_subscriptions, methods=["GET"]),
    endpoint(PROFILE + ONE, get_profile_subscription, methods=["GET"]),
    endpoint(PROFILE + ONE, delete_profile_subscription, methods=["DELETE"]),
]
