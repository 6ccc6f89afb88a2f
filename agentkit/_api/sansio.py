"""The client's logic without I/O: configuration, requests, retry decisions, error mapping.

Owns what `Client` and `AsyncClient` share, so neither holds a copy of it (httpx `_auth.py`
auth_flow style): reading credentials and the environment, building headers and URLs
(`ClientConfig`, `Call`), deciding whether and when to retry (`retryable`, `backoff`; the agent
loop's engine asks the same two), and turning an error response into an exception
(`error_from_response`, which keeps what the response said about retrying). `client_base.py`
builds the steps of a call on top of it; `client.py` only sends, reads and sleeps.

Rules:
- No httpx, no event loop, no clock except `retry-after` HTTP dates; plain sync tests.
- Secrets: `ClientConfig` and `Call` reprs never show the key, the token or a password in the
  base URL; `redact` removes them, in any spelling, from bodies before an exception is built
  from one (`secrets.py`).
- Retries follow contract §8: `x-should-retry` first, then 408/409/429/5xx (529 included) and
  connection errors; `retry-after-ms`, else `retry-after` (seconds or HTTP date) when in
  (0, 60] s, else `min(0.5·2^n, 8)` s × jitter 0.75–1.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import orjson

from .._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APIStreamError,
    AuthenticationError,
    BadRequestError,
    BillingError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    UnprocessableEntityError,
    UsageError,
)
from .jsonbytes import stdlib_json
from .secrets import REDACTED, Redactor, credential, split_base_url

__all__ = [
    "DEFAULT_ANTHROPIC_VERSION",
    "DEFAULT_BASE_URL",
    "Call",
    "ClientConfig",
    "backoff",
    "error_from_response",
    "message_body",
    "retryable",
]

logger = logging.getLogger("agentkit")

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_ANTHROPIC_VERSION = "2023-06-01"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

# -- retries ------------------------------------------------------------------------------------

_RETRY_STATUSES = frozenset({408, 409, 429})


def retryable(error: BaseException) -> bool:
    """Whether sending the same call again may succeed (contract §8): `x-should-retry` first,
    then 408/409/429/5xx, any connection error or timeout, a transient stream `error`."""
    if isinstance(error, APIStreamError):
        return error.retryable
    if isinstance(error, APIStatusError):
        return _worth_retrying(error.status_code, error.should_retry)
    return isinstance(error, APIConnectionError)


def backoff(attempt: int, *, retry_after: float | None = None, rand: float) -> float:
    """Seconds to wait before retry number `attempt + 1`: the server's `retry_after` when in
    (0, 60] s, else `min(0.5·2^attempt, 8)` s shortened by up to a quarter (`rand` in [0, 1))."""
    if retry_after is not None and 0 < retry_after <= 60:
        return retry_after
    return min(0.5 * 2.0**attempt, 8.0) * (1.0 - 0.25 * rand)


def _worth_retrying(status: int, should_retry: bool | None) -> bool:
    if should_retry is not None:
        return should_retry
    return status in _RETRY_STATUSES or status >= 500


def _should_retry(headers: Mapping[str, str] | None) -> bool | None:
    flag = headers.get("x-should-retry") if headers is not None else None
    return True if flag == "true" else False if flag == "false" else None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """The delay the server asked for, in seconds: `retry-after-ms`, else `retry-after`."""
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return float(value) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


# -- errors -------------------------------------------------------------------------------------

_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: BillingError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: RequestTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    529: OverloadedError,
}

_HINTS = {
    401: "check the key or token (ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN) and whether the "
    "server expects auth_scheme='x-api-key' or 'bearer'",
    403: "this key may not use that model or resource",
    404: "check the model name, and that base_url does not end in /v1",
    413: "send less: the Messages API accepts at most 32 MB per request",
}


def error_from_response(
    status: int, headers: Mapping[str, str] | None, body: bytes | str | Mapping[str, Any] | None
) -> APIStatusError:
    """The exception for a non-2xx response: its class from the status, type and message
    from the body (`{"type": "error", "error": {"type", "message"}, "request_id"}`).

    `body` may be raw bytes, text or an already decoded dict (a recorded exchange). The
    request id is the body's `request_id`, else the `request-id` header (equal when both
    exist; recorders tend to scrub the header). A body that is not
    the API's error shape (a proxy's HTML page) is quoted, shortened, in the message.
    """
    parsed: object = body
    if isinstance(body, bytes | str):
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
    error_type: str | None = None
    header_id = headers.get("request-id") if headers is not None else None
    request_id = None
    envelope = _json_object(parsed)
    detail = _json_object(envelope.get("error")) if envelope is not None else None
    if envelope is not None and detail is not None:
        error_type = _text_or_none(detail.get("type"))
        text = str(detail.get("message") or "")
        request_id = _text_or_none(envelope.get("request_id"))
        message = f"{error_type}: {text}" if error_type else text
    else:
        raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        raw = raw.strip()
        message = f"non-JSON error body: {raw[:300]!r}" if raw else "empty error body"
        parsed = raw or None
    hint = _HINTS.get(status)
    if hint:
        message = f"{message} ({hint})"
    cls = _STATUS_ERRORS.get(status)
    if cls is None:
        cls = APIStatusError if status < 500 else InternalServerError
    if status >= 500 and error_type == "overloaded_error":
        cls = OverloadedError
    request_id = request_id or header_id
    return cls(
        message, status_code=status, body=parsed, request_id=request_id, error_type=error_type,
        retry_after=_retry_after(headers) if headers is not None else None,
        should_retry=_should_retry(headers),
    )


def _json_object(value: object) -> Mapping[str, object] | None:
    """`value` if it is a JSON object (keys are strings in decoded JSON), else None."""
    return cast("Mapping[str, object]", value) if isinstance(value, Mapping) else None


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


# -- one call -----------------------------------------------------------------------------------


class Call:
    """One logical API call: what to send, and how many retries it has used so far.

    `read_timeout` None means the client's default. The repr leaves the headers out,
    because they carry the credentials.
    """

    __slots__ = (
        "attempt",
        "content",
        "headers",
        "max_retries",
        "method",
        "params",
        "read_timeout",
        "url",
    )

    def __init__(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        *,
        read_timeout: float | None = None,
        max_retries: int = 2,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.content = content
        self.params = params
        self.read_timeout = read_timeout
        self.max_retries = max_retries
        self.attempt = 0

    def __repr__(self) -> str:
        return f"<Call {self.method} {self.url} attempt={self.attempt}>"

    def next_delay(self, error: APIError) -> float | None:
        """Seconds to sleep before retrying after `error` (counting the retry), or None to
        raise it. A status error carries what its response said about retrying."""
        delay: float | None = None
        if self.attempt < self.max_retries and retryable(error):
            asked = error.retry_after if isinstance(error, APIStatusError) else None
            delay = backoff(self.attempt, retry_after=asked, rand=random.random())
        if delay is None:
            logger.info("%s %s failed: %s", self.method, self.url, error)
            return None
        self.attempt += 1
        logger.info(
            "%s %s: retry %d of %d in %.2fs after: %s",
            self.method, self.url, self.attempt, self.max_retries, delay, error,
        )
        return delay


def message_body(
    params: Mapping[str, Any] | None,
    kwargs: dict[str, Any],
    method: str,
    required: tuple[str, ...],
    *,
    stream: bool = False,
) -> Mapping[str, Any]:
    """The request dict: `params` as given (no copy), or merged with keyword params, plus
    `stream: true` for a streamed call.

    Checks only what is cheap and certain: the required keys, and no `stream: true` sent to a
    non-streaming method. Raises `UsageError`.
    """
    body = kwargs if params is None else ({**params, **kwargs} if kwargs else params)
    missing = [key for key in required if key not in body]
    if missing:
        raise UsageError(
            f"{method}() needs {', '.join(missing)}: pass them in params or as keywords"
        )
    if stream:
        return {**body, "stream": True}
    if body.get("stream"):
        raise UsageError(f"{method}() got stream=True: use stream() for a streamed reply")
    return body


def _encode(body: Any) -> bytes:
    """A request body as compact UTF-8 JSON.

    orjson writes the same bytes as `json.dumps(ensure_ascii=False, separators=(",", ":"))`
    about ten times faster, and the whole conversation is re-encoded on every turn (at 100
    turns, ~0.7 ms of stdlib encoding per request). What orjson refuses (non-string keys,
    integers beyond 64 bits, a lone surrogate from a reply that held one escaped) goes through
    the stdlib, the surrogate written back as its escape.
    """
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return stdlib_json(body)


def _auth_headers(api_key: str | None, auth_token: str | None, auth_scheme: str) -> dict[str, str]:
    """The credential headers: `api_key` in `x-api-key` (or as a bearer token with
    `auth_scheme="bearer"`), `auth_token` always as a bearer token. Raises `UsageError`."""
    if auth_scheme not in ("x-api-key", "bearer"):
        raise UsageError(f"auth_scheme must be 'x-api-key' or 'bearer', got {auth_scheme!r}")
    if auth_scheme == "bearer" and api_key and auth_token:
        raise UsageError(
            "auth_scheme='bearer' sends api_key as the bearer token: pass api_key or "
            "auth_token, not both"
        )
    headers: dict[str, str] = {}
    if api_key:
        if auth_scheme == "x-api-key":
            headers["x-api-key"] = api_key
        else:
            headers["authorization"] = f"Bearer {api_key}"
    if auth_token:
        headers["authorization"] = f"Bearer {auth_token}"
    return headers


# -- configuration ------------------------------------------------------------------------------


class ClientConfig:
    """Credentials, base URL, headers and limits, resolved once; builds each `Call`.

    Explicit arguments win over `ANTHROPIC_API_KEY`, `ANTHROPIC_AUTH_TOKEN` and
    `ANTHROPIC_BASE_URL`. `api_key` goes in `x-api-key`, or in `Authorization: Bearer`
    with `auth_scheme="bearer"` (for gateways); `auth_token` is always a bearer token.
    A user name and password in `base_url` (`https://user:pw@host`) are sent as Basic auth
    and shown nowhere. Without credentials only a loopback `base_url` is accepted (fake
    server, local gateway).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        auth_token: str | None = None,
        base_url: str | None = None,
        auth_scheme: Literal["x-api-key", "bearer"] = "x-api-key",
        anthropic_version: str = DEFAULT_ANTHROPIC_VERSION,
        betas: Sequence[str] = (),
        default_headers: Mapping[str, str] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 600.0,
        max_retries: int = 2,
    ) -> None:
        api_key = credential("api_key", api_key, "ANTHROPIC_API_KEY")
        auth_token = credential("auth_token", auth_token, "ANTHROPIC_AUTH_TOKEN")
        url = (base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        url, basic, url_secrets = split_base_url(url)
        host = urlsplit(url)
        if host.scheme not in ("http", "https") or not host.hostname:
            raise UsageError(f"base_url must be an http(s) URL like {DEFAULT_BASE_URL}: {url!r}")
        if host.query or host.fragment or url.endswith(("?", "#")):
            # Each call's path is appended to base_url: a query would end up before it. Not
            # quoted back: a gateway's query string may carry a key.
            raise UsageError(
                "base_url must not carry a query string or fragment ('?…' or '#…'): each "
                "request's path is appended to it; pass gateway parameters as default_headers="
            )
        auth = _auth_headers(api_key, auth_token, auth_scheme)
        if basic is not None:
            if "authorization" in auth:
                raise UsageError(
                    "base_url carries a user name and password (sent as Basic auth), and a "
                    "bearer token is set too: both need the Authorization header; keep one"
                )
            auth["authorization"] = basic
        if max_retries < 0:
            raise UsageError(f"max_retries must be 0 or more, got {max_retries}")
        if not auth and host.hostname not in _LOOPBACK:
            raise UsageError(
                "no API key or token: pass api_key= (or auth_token=), or set ANTHROPIC_API_KEY "
                "(or ANTHROPIC_AUTH_TOKEN)"
            )
        headers = {
            "anthropic-version": anthropic_version, "content-type": "application/json", **auth
        }
        self.betas = tuple(betas)
        """`anthropic-beta` values sent with every request (per-call `betas` add to them)."""
        if self.betas:
            headers["anthropic-beta"] = ",".join(self.betas)
        if default_headers:
            headers.update({k.lower(): v for k, v in default_headers.items()})
        self._headers = headers
        self._redactor = Redactor((api_key or "", auth_token or "", *url_secrets))
        self._auth = " + ".join(h for h in ("x-api-key", "authorization") if h in headers)
        self.base_url = url
        """The API root without a trailing slash; may carry a gateway's path prefix."""
        self.max_retries = max_retries
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout

    def __repr__(self) -> str:
        auth = f"{self._auth}={REDACTED}" if self._auth else "none"
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, auth={auth}, "
            f"max_retries={self.max_retries})"
        )

    __str__ = __repr__

    def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: dict[str, Any] | None = None,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Call:
        """A `Call` to `base_url + path`: the body serialized once, per-call betas merged
        after the default ones (deduplicated, comma-joined), `extra_headers` applied last."""
        headers = self._headers
        if betas or extra_headers:
            headers = dict(headers)
            if betas:
                headers["anthropic-beta"] = ",".join(dict.fromkeys((*self.betas, *betas)))
            if extra_headers:
                headers.update({k.lower(): v for k, v in extra_headers.items()})
        content = None if body is None else _encode(body)
        return Call(
            method,
            self.base_url + path,
            headers,
            content,
            params,
            read_timeout=timeout,
            max_retries=self.max_retries,
        )

    def redact(self, body: bytes) -> bytes:
        """`body` with every spelling of the key, token or base-URL password replaced (a
        gateway may echo them)."""
        return self._redactor.redact(body) if self._redactor else body
