"""The identity and profile endpoints clients call first (reference §11).

`GET /v1/me`, `GET /v1/users/{id}`, legacy `GET /v1/profiles[/{id}]` (lower-case `type`, `details`)
and `GET /v2/profiles[/{id}]` (upper-case `type`, flat fields). User and personal tokens only; a
token from the authorize page reaches only the profile it was granted for (§3).
"""

from __future__ import annotations

from starlette.responses import Response

from mockwise._domain.errors import forbidden
from mockwise._http.pipeline import RouteCall, endpoint
from mockwise._http.render import me as render_me
from mockwise._http.render import profile_v1, profile_v2
from mockwise._http.responses import WiseJSON


async def me(call: RouteCall) -> Response:
    """
    summary: The user a user or personal token acts for
    tags: [identity]
    security: [{bearerAuth: []}]
    responses:
      200: {description: "The user; `name` and `details` are null for users created over API."}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
    """
    caller = call.bearer
    user = caller.user()
    return WiseJSON(render_me(user, caller.tenant.directory.profiles_of(user)))


async def user_by_id(call: RouteCall) -> Response:
    """
    summary: A user by id (only the token's own user)
    tags: [identity]
    security: [{bearerAuth: []}]
    responses:
      200: {description: "The user, as /v1/me."}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
    """
    caller = call.bearer
    user = caller.user()
    if call.path_params["user_id"] != user.id:
        raise forbidden("You are not authorized to access this user")
    return WiseJSON(render_me(user, caller.tenant.directory.profiles_of(user)))


async def profiles_v1(call: RouteCall) -> Response:
    """
    summary: The user's profiles, legacy shape (lower-case type, details)
    tags: [profiles]
    security: [{bearerAuth: []}]
    responses:
      200: {description: "Profiles the token may reach."}
      401: {$ref: "#/components/responses/OAuthError"}
    """
    caller = call.bearer
    return WiseJSON([profile_v1(p) for p in caller.profiles()])


async def profile_v1_by_id(call: RouteCall) -> Response:
    """
    summary: One profile, legacy shape
    tags: [profiles]
    security: [{bearerAuth: []}]
    responses:
      200: {description: "The profile."}
      403: {$ref: "#/components/responses/SpringError"}
    """
    caller = call.bearer
    return WiseJSON(profile_v1(caller.profile(call.path_params["profile_id"])))


async def profiles_v2(call: RouteCall) -> Response:
    """
    summary: The user's profiles (upper-case type, flat fields, publicId)
    tags: [profiles]
    security: [{bearerAuth: []}]
    responses:
      200: {description: "Profiles the token may reach."}
      401: {$ref: "#/components/responses/OAuthError"}
    """
    caller = call.bearer
    user = caller.user()
    return WiseJSON([profile_v2(p, user) for p in caller.profiles()])


async def profile_v2_by_id(call: RouteCall) -> Response:
    """
    summary: One profile
    tags: [profiles]
    security: [{bearerAuth: []}]
    responses:
      200: {description: "The profile."}
      403: {$ref: "#/components/responses/SpringError"}
    """
    caller = call.bearer
    return WiseJSON(profile_v2(caller.profile(call.path_params["profile_id"]), caller.user()))


routes = [
    endpoint("/v1/me", me, methods=["GET"]),
    endpoint("/v1/users/{user_id:int}", user_by_id, methods=["GET"]),
    endpoint("/v1/profiles", profiles_v1, methods=["GET"]),
    endpoint("/v1/profiles/{profile_id:int}", profile_v1_by_id, methods=["GET"]),
    endpoint("/v2/profiles", profiles_v2, methods=["GET"]),
    endpoint("/v2/profiles/{profile_id:int}", profile_v2_by_id, methods=["GET"]),
]
