"""Refusals in Wise's own shapes (reference §2.6, §4, §10).

The domain raises these; the HTTP layer renders them (`mockwise._http.responses.render_error`),
sending `body()` as JSON. Wise answers in four shapes:

- OAuth: `{"error": "invalid_grant", "error_description": "..."}` (token endpoint, bearer checks);
- validation: `{"errors": [{"code", "message", "path", "arguments"}]}` (signup and other JSON APIs);
- Spring Boot: `{"timestamp", "status", "error", "message", "path"}` (403, 404, 405, 500...);
- empty (429 Too Many Requests, per the docs example §9).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from mockwise._domain.settings import LIMITED_BY

if TYPE_CHECKING:
    from mockwise._domain.entries import Note

JSON = dict[str, Any]


class WiseError(Exception):
    """A refusal the sandbox answers with a Wise-shaped response."""

    status: int = 400
    code: str = "error"  # short name for the journal: "invalid_grant", "NotNull", "Forbidden"...
    reason: str | None = None  # why, in one word, for the journal's `reason` field
    note: Note | None = None  # what the refused operation tells the journal (see `journal.Note`)

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        super().__init__()
        self.headers: dict[str, str] = headers or {}

    def body(self, path: str, now: float) -> JSON | None:
        raise NotImplementedError

    def __str__(self) -> str:
        return f"{self.status} {self.code}"


class OAuthError(WiseError):
    """`{"error", "error_description"}`: Spring Security OAuth2's shape, which Wise uses (§2.6, §10)."""

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(headers)
        self.code = error
        self.description = description
        self.status = status
        self.reason = reason  # why, in one word, for the journal (the description may echo a token)

    def body(self, path: str, now: float) -> JSON:
        return {"error": self.code, "error_description": self.description}

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.description}"


# Reference §10 [C]: the exact text of Wise's "Authentication Error Example".
FULL_AUTHENTICATION_REQUIRED = "Full authentication is required to access this resource"


def missing_authentication(realm: str = "oauth2/client", scheme: str = "Basic") -> OAuthError:
    return OAuthError(
        "unauthorized",
        FULL_AUTHENTICATION_REQUIRED,
        status=401,
        headers={"WWW-Authenticate": f'{scheme} realm="{realm}"'},
    )


def bad_client_credentials(description: str = "Bad credentials") -> OAuthError:
    # Wise's exact answer is unknown (§13 q1); Spring answers 401 "unauthorized" "Bad credentials" §2.6.
    return OAuthError(
        "unauthorized", description, status=401, headers={"WWW-Authenticate": 'Basic realm="oauth2/client"'}
    )


def invalid_token(description: str = "Invalid token") -> OAuthError:
    # [C] §10: 401 {"error":"invalid_token","error_description":"Invalid token"}.
    quoted = description.replace("\\", "\\\\").replace('"', '\\"')
    return OAuthError(
        "invalid_token",
        description,
        status=401,
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{quoted}"'},
    )


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def invalid_grant(description: str, status: int = 400, reason: str | None = None) -> OAuthError:
    return OAuthError("invalid_grant", description, status=status, reason=reason)


def unsupported_grant_type(grant_type: str) -> OAuthError:
    return OAuthError("unsupported_grant_type", f"Unsupported grant type: {clip(grant_type)}")


@dataclass(frozen=True, slots=True)
class FieldError:
    code: str
    message: str
    path: str
    arguments: list[Any] = field(default_factory=list)

    def as_json(self) -> JSON:
        return {"code": self.code, "message": self.message, "path": self.path, "arguments": self.arguments}


class ValidationError(WiseError):
    """`{"errors": [...]}`: 400 for NotNull/Size, 409 NOT_UNIQUE, 422 for a bad e-mail (§4, §10)."""

    def __init__(self, errors: list[FieldError], status: int = 400) -> None:
        super().__init__()
        self.errors = errors
        self.status = status
        self.code = errors[0].code if errors else "ERROR"

    def body(self, path: str, now: float) -> JSON:
        return {"errors": [e.as_json() for e in self.errors]}

    def __str__(self) -> str:
        return f"{self.status} " + "; ".join(f"{e.path}: {e.message}" for e in self.errors)


class SpringError(WiseError):
    """Spring Boot's default error JSON, which Wise returns for 403/404/405/500 (§10)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(headers)
        self.status = status
        self.message = message
        self.code = HTTPStatus(status).phrase

    def body(self, path: str, now: float) -> JSON:
        return {
            "timestamp": spring_timestamp(now),
            "status": self.status,
            "error": HTTPStatus(self.status).phrase,
            "message": self.message,
            "path": path,
        }

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def forbidden(message: str) -> SpringError:
    return SpringError(403, message)


def not_found(message: str = "No message available") -> SpringError:
    return SpringError(404, message)


class RateLimited(WiseError):
    """429 with `Retry-After` and `X-Rate-Limited-By`, and an empty body (§9 docs example)."""

    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: int, limited_by: str = LIMITED_BY) -> None:
        super().__init__({"Retry-After": str(retry_after), "X-Rate-Limited-By": limited_by})
        self.retry_after = retry_after

    def body(self, path: str, now: float) -> None:
        return None


class RawResponse(WiseError):
    """A response that is not Wise JSON at all: a gateway's HTML page, a truncated body (faults)."""

    def __init__(self, status: int, content: bytes, media_type: str, code: str) -> None:
        super().__init__()
        self.status = status
        self.content = content
        self.media_type = media_type
        self.code = code

    def body(self, path: str, now: float) -> None:
        return None


class DropConnection(Exception):
    """Close the connection without answering (the connection-reset fault)."""


def spring_timestamp(now: float) -> str:
    """`2017-02-02T13:07:39.644+0000`, Spring Boot's error timestamp (§10)."""
    moment = datetime.fromtimestamp(now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def clip(value: str, limit: int = 200) -> str:
    """Echo user input in an error without letting it grow the response without bound."""
    return value if len(value) <= limit else value[:limit] + "…"
