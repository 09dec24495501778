"""One error tree for everything a request can run into.

Every failure the proxy reports to a client is a :class:`TierrouteError`. Each subclass fixes
the HTTP status and the OpenAI error ``type``; the API edge turns any of them into
``{"error": {"message", "type", "param", "code"}}`` (or Anthropic's shape on ``/v1/messages``).
Nothing else is caught at the edge except as a last-resort 500 that is logged with a
traceback and shown to the client without one.
"""

from __future__ import annotations


class TierrouteError(Exception):
    """Base of every client-visible error."""

    status: int = 500
    type: str = "api_error"
    code: str | None = None
    fault: bool = False  # an upstream fault: counts against the replica's breaker; before the first byte, retried
    detail: str | None = None  # the upstream's own words (replica, host, provider text): logged, never sent

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = headers or {}
        self.detail = detail

    def name_request(self, request_id: str) -> None:
        """Name the request in an upstream error's neutral message, so that the client can quote it
        and the operator find the logged ``detail`` (once; errors without a detail are left alone)."""
        if self.detail is not None and "(request id " not in self.message:
            self.message = f"{self.message} (request id {request_id})"

    def body(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InternalError(TierrouteError):
    """A bug: logged with its traceback; the client sees this message, never the traceback."""

    code = "internal_error"


class BadRequest(TierrouteError):
    status = 400
    type = "invalid_request_error"


class InvalidJSON(BadRequest):
    code = "invalid_json"


class ContextLengthExceeded(BadRequest):
    code = "context_length_exceeded"


class Unauthorized(TierrouteError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class Forbidden(TierrouteError):
    status = 403
    type = "permission_error"
    code = "tier_not_allowed"


class NotFound(TierrouteError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class MethodNotAllowed(TierrouteError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class UnknownPath(TierrouteError):
    status = 404
    type = "invalid_request_error"


class PayloadTooLarge(TierrouteError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class Unprocessable(TierrouteError):
    """The body is JSON but a field has the wrong shape (missing, wrong type, out of range)."""

    status = 422
    type = "invalid_request_error"
    code = "invalid_value"


class RateLimited(TierrouteError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class BudgetExceeded(TierrouteError):
    """A key's spend budget (policy ``auth.client_keys[].budget``, ``on_exhausted: refuse``) is used up."""

    status = 429
    type = "insufficient_quota"  # OpenAI's type for a quota that is used up
    code = "budget_exceeded"


class UpstreamError(TierrouteError):
    """The backend answered with something unusable or failed mid-way."""

    status = 502
    type = "upstream_error"
    code = "bad_gateway"
    fault = True


class NoHealthyReplica(TierrouteError):
    status = 503
    type = "service_unavailable"
    code = "no_healthy_replica"


class UpstreamUnavailable(NoHealthyReplica):
    """The backend answered 503 (overloaded, starting, unhealthy)."""

    fault = True


class NotReady(TierrouteError):
    status = 503
    type = "service_unavailable"
    code = "not_ready"


class UpstreamTimeout(TierrouteError):
    status = 504
    type = "timeout"
    code = "upstream_timeout"
    fault = True


class UpstreamStatus(TierrouteError):
    """The backend answered with an error status that is the client's to see (4xx, 429).

    The status is the upstream's own, the message its own with addresses removed
    (:func:`router.backends.base.upstream_error`); 5xx from a backend become 502.
    """

    def __init__(self, status: int, message: str, *, type: str | None = None, code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None,
                 detail: str | None = None) -> None:
        super().__init__(message, param=param, code=code, headers=headers, detail=detail)
        self.status = status
        self.type = type or _type_for_status(status)
        self.fault = status == 429 or status >= 500


class HTTPStatus(TierrouteError):
    """Any other status the HTTP framework raised (Starlette's ``HTTPException``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = "invalid_request_error" if status < 500 else "api_error"


def _type_for_status(status: int) -> str:
    return {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "invalid_request_error",
        413: "invalid_request_error",
        422: "invalid_request_error",
        429: "rate_limit_error",
    }.get(status, "upstream_error")


class PolicyError(Exception):
    """A policy file that cannot be loaded or does not validate (not a request error)."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))
