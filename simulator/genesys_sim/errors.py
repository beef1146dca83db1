"""Genesys-shaped error bodies (docs/genesys-api.md §6) and the exception that carries them."""

from __future__ import annotations

import uuid
from typing import Any

PAGINATION_MESSAGE = (
    "Pagination may not exceed 100000 results. Tip: instead of paging through one large "
    "interval, query smaller intervals (for example hour by hour)."
)


def correlation_id() -> str:
    return str(uuid.uuid4())


def error_body(
    status: int,
    code: str,
    message: str,
    context_id: str,
    details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The platform ``ErrorBody`` shape: message, code, status, contextId, details, errors."""
    return {
        "message": message,
        "code": code,
        "status": status,
        "contextId": context_id,
        "details": details or [],
        "errors": [],
    }


class ApiError(Exception):
    """An API error response; rendered by the server with the request's correlation id."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self, context_id: str) -> dict[str, Any]:
        return error_body(self.status, self.code, self.message, context_id, self.details)


def bad_request(message: str, code: str = "bad.request", field: str | None = None) -> ApiError:
    details = [{"errorCode": code, "fieldName": field}] if field else None
    return ApiError(400, code, message, details)


def invalid_value(value: Any, type_name: str, allowed: list[str], field: str) -> ApiError:
    message = (
        f"Value [{value}] is not valid for field type [{type_name}]. "
        f"Allowable values are: {', '.join(allowed)}"
    )
    details = [{"errorCode": "invalid.value", "fieldName": field}]
    return ApiError(400, "invalid.value", message, details)


def invalid_date(field: str) -> ApiError:
    return ApiError(
        400,
        "invalid.date",
        "Dates must be specified as ISO-8601 strings. For example: yyyy-MM-ddTHH:mm:ss.SSSZ",
        [{"errorCode": "invalid.date", "fieldName": field}],
    )


def not_found(what: str) -> ApiError:
    return ApiError(404, "not.found", f"The requested resource was not found: {what}")


def server_error(status: int) -> ApiError:
    table = {
        408: ("request.timeout", "The request timed out."),
        409: ("conflict", "The request conflicts with the current state of the resource."),
        500: ("internal.server.error", "The server encountered an unexpected condition."),
        502: ("bad.gateway", "The server received an invalid response from an upstream server."),
        503: ("service.unavailable", "The service is currently unavailable."),
        504: ("request.timeout", "The request timed out."),
    }
    code, message = table.get(status, ("internal.server.error", "Unexpected error."))
    return ApiError(status, code, message)


def rate_limited(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "too.many.requests.retry.after",
        f"Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds",
        headers={"Retry-After": str(retry_after)},
    )


def oauth_error(error: str, description: str) -> dict[str, str]:
    """OAuth endpoint errors use the OAuth shape, not the platform ErrorBody.

    See docs/genesys-api.md §5.
    """
    return {"error": error, "description": description}
