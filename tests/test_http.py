"""The client's sans-IO logic: retry decisions, error mapping, configuration, bodies."""

import email.utils
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from agentkit._api.sansio import (
    Call,
    ClientConfig,
    backoff,
    error_from_response,
    message_body,
    retryable,
)
from agentkit._errors import (
    APIConnectionError,
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

REAL = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "real"
KEY = "sk-ant-test-SECRET-0123456789"


def recorded_response(name: str) -> dict[str, Any]:
    path = REAL / f"{name}.json"
    if not path.exists():
        pytest.skip(f"recording {path} not available")
    return json.loads(path.read_text(encoding="utf-8"))["response"]


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


# -- retry decisions: retryable(error) and backoff(attempt) ------------------------------------


def delay(
    status: int, headers: dict[str, str], *, attempt: int = 0, rand: float = 0.0
) -> float | None:
    """What the client and the engine decide for a response: a back-off, or None (give up)."""
    error = error_from_response(status, headers, b"")
    return backoff(attempt, retry_after=error.retry_after, rand=rand) if retryable(error) else None


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses_back_off(status: int) -> None:
    assert delay(status, {}) == 0.5


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    assert delay(status, {}) is None


def test_connection_errors_are_retried() -> None:
    assert retryable(APIConnectionError("reset")) and backoff(0, rand=0.0) == 0.5


def test_backoff_doubles_with_jitter_and_caps_at_eight_seconds() -> None:
    assert [backoff(n, rand=0.0) for n in range(6)] == [0.5, 1, 2, 4, 8, 8]
    # jitter scales by 0.75..1.0
    assert backoff(1, rand=1.0) == 0.75
    assert 0.75 <= backoff(1, rand=random.random()) <= 1.0


def test_x_should_retry_overrides_the_status() -> None:
    assert delay(500, {"x-should-retry": "false"}) is None
    assert delay(400, {"x-should-retry": "true"}) is not None


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert delay(429, {"retry-after-ms": "1500", "retry-after": "7"}) == 1.5


def test_retry_after_seconds() -> None:
    assert delay(429, {"retry-after": "3"}) == 3.0


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    waited = delay(503, {"retry-after": when})
    assert waited is not None and 17 < waited <= 20


@pytest.mark.parametrize("value", ["0", "-1", "61", "3600", "soon"])
def test_retry_after_outside_zero_to_sixty_falls_back_to_backoff(value: str) -> None:
    assert delay(429, {"retry-after": value}) == 0.5


# -- error_from_response ------------------------------------------------------------------------

_BODY = {"type": "error", "error": {"type": "some_error", "message": "it broke"}}


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (402, BillingError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, RequestTooLargeError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
        (529, OverloadedError),
        (418, APIStatusError),
    ],
)
def test_each_status_maps_to_its_class(status: int, cls: type[APIStatusError]) -> None:
    error = error_from_response(status, {"request-id": "req_1"}, json.dumps(_BODY).encode())
    assert type(error) is cls
    assert error.status_code == status
    assert error.error_type == "some_error"
    assert "it broke" in error.message
    assert error.request_id == "req_1"
    assert error.body == _BODY


def test_recorded_401_carries_status_type_message_and_request_id() -> None:
    response = recorded_response("error_401_authentication")
    error = error_from_response(response["status"], response["headers"], response["body"])
    assert isinstance(error, AuthenticationError)
    assert (error.status_code, error.error_type) == (401, "authentication_error")
    assert error.message.startswith("authentication_error: invalid x-api-key")
    assert "ANTHROPIC_API_KEY" in error.message  # says what to do
    assert error.request_id == "req_011CeCGmBjaWkq37Sf5iU7so"
    assert str(error).startswith("HTTP 401: authentication_error")
    assert "req_011CeCGmBjaWkq37Sf5iU7so" in str(error)


def test_recorded_404_and_400() -> None:
    response = recorded_response("error_404_model_not_found")
    error = error_from_response(response["status"], response["headers"], response["body"])
    assert isinstance(error, NotFoundError) and error.error_type == "not_found_error"
    assert "claude-sonet-4-5" in error.message
    response = recorded_response("error_400_prompt_too_long")
    error = error_from_response(response["status"], response["headers"], response["body"])
    assert isinstance(error, BadRequestError)
    assert "prompt is too long" in error.message


def test_request_id_falls_back_to_the_header() -> None:
    body = {"type": "error", "error": {"type": "api_error", "message": "x"}}
    assert error_from_response(500, {"request-id": "req_h"}, body).request_id == "req_h"


def test_overloaded_type_on_another_5xx_is_overloaded() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert isinstance(error_from_response(503, {}, body), OverloadedError)


def test_non_json_body_is_quoted_shortened() -> None:
    html = b"<html><body>502 Bad Gateway</body></html>" + b"x" * 1000
    error = error_from_response(502, None, html)
    assert isinstance(error, InternalServerError)
    assert error.error_type is None
    assert "502 Bad Gateway" in error.message and len(error.message) < 400


def test_empty_body() -> None:
    assert "empty error body" in error_from_response(500, {}, b"").message


# -- Call ---------------------------------------------------------------------------------------


def _call(max_retries: int = 2) -> Call:
    return Call("POST", "https://x/v1/messages", {"x-api-key": KEY}, max_retries=max_retries)


def test_call_counts_retries_and_gives_up() -> None:
    call = _call(max_retries=2)
    error = error_from_response(529, {}, b"")
    assert call.next_delay(error) is not None
    assert call.next_delay(error) is not None
    assert call.next_delay(error) is None
    assert call.attempt == 2


def test_call_retries_only_transient_stream_errors() -> None:
    overloaded = APIStreamError("Overloaded", error_type="overloaded_error")
    invalid = APIStreamError("bad", error_type="invalid_request_error")
    assert _call().next_delay(overloaded) is not None
    assert _call().next_delay(invalid) is None
    assert _call().next_delay(APIConnectionError("reset")) is not None


def test_call_repr_hides_headers() -> None:
    assert KEY not in repr(_call())


# -- ClientConfig -------------------------------------------------------------------------------


def test_api_key_goes_in_x_api_key() -> None:
    call = ClientConfig(api_key=KEY).call("GET", "/v1/models")
    assert call.headers["x-api-key"] == KEY
    assert "authorization" not in call.headers
    assert call.headers["anthropic-version"] == "2023-06-01"
    assert call.url == "https://api.anthropic.com/v1/models"


def test_bearer_scheme_and_auth_token() -> None:
    call = ClientConfig(api_key=KEY, auth_scheme="bearer").call("GET", "/v1/models")
    assert call.headers["authorization"] == f"Bearer {KEY}" and "x-api-key" not in call.headers
    call = ClientConfig(auth_token="tok").call("GET", "/v1/models")
    assert call.headers["authorization"] == "Bearer tok" and "x-api-key" not in call.headers


def test_environment_variables_and_explicit_arguments_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "env-token")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://gw.example/anthropic/")
    call = ClientConfig().call("POST", "/v1/messages")
    assert call.headers["x-api-key"] == "env-key"
    assert call.headers["authorization"] == "Bearer env-token"
    assert call.url == "https://gw.example/anthropic/v1/messages"
    call = ClientConfig(api_key="k", base_url="https://other.example").call("GET", "/v1/models")
    assert call.headers["x-api-key"] == "k" and call.url == "https://other.example/v1/models"


def test_missing_credentials_name_the_environment_variables() -> None:
    with pytest.raises(UsageError, match=r"ANTHROPIC_API_KEY.*ANTHROPIC_AUTH_TOKEN"):
        ClientConfig()


def test_loopback_base_url_needs_no_credentials() -> None:
    call = ClientConfig(base_url="http://127.0.0.1:8123").call("GET", "/v1/models")
    assert "x-api-key" not in call.headers and "authorization" not in call.headers


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "api.anthropic.com"},
        {"auth_scheme": "basic"},
        {"max_retries": -1},
        {"auth_scheme": "bearer", "auth_token": "t"},
    ],
)
def test_bad_configuration_is_a_usage_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        ClientConfig(**{"api_key": KEY, **kwargs})


def test_betas_default_and_per_call_are_merged_in_order_without_duplicates() -> None:
    config = ClientConfig(api_key=KEY, betas=["a-1", "b-2"])
    assert config.call("GET", "/v1/models").headers["anthropic-beta"] == "a-1,b-2"
    merged = config.call("GET", "/v1/models", betas=["c-3", "a-1"]).headers["anthropic-beta"]
    assert merged == "a-1,b-2,c-3"
    assert "anthropic-beta" not in ClientConfig(api_key=KEY).call("GET", "/v1/models").headers


def test_version_override_and_extra_headers() -> None:
    config = ClientConfig(
        api_key=KEY, anthropic_version="2099-01-01", default_headers={"X-Team": "a"}
    )
    call = config.call("GET", "/v1/models", extra_headers={"X-Trace": "t", "x-team": "b"})
    assert call.headers["anthropic-version"] == "2099-01-01"
    assert (call.headers["x-team"], call.headers["x-trace"]) == ("b", "t")
    assert config.call("GET", "/v1/models").headers["x-team"] == "a"


def test_per_call_headers_do_not_leak_into_the_defaults() -> None:
    config = ClientConfig(api_key=KEY)
    config.call("GET", "/v1/models", extra_headers={"x-once": "1"}, betas=["b"])
    headers = config.call("GET", "/v1/models").headers
    assert "x-once" not in headers and "anthropic-beta" not in headers


def test_body_is_compact_utf8_json() -> None:
    call = ClientConfig(api_key=KEY).call("POST", "/v1/messages", {"text": "héllo", "n": 1})
    assert call.content == '{"text":"héllo","n":1}'.encode()


@pytest.mark.parametrize(
    "body",
    [
        {"text": "héllo ✓ \U0001f600", "f": 0.1, "e": 1e-07, "big": 2**63 - 1, "l": [None, True]},
        {"keys": {1: "int key"}},  # orjson refuses non-str keys: the stdlib encodes them
        {"huge": 2**70},  # beyond 64 bits: the stdlib again
        # a reply's `"a\\ud800b"` read back (UTF-8 cannot carry it): the stdlib, escaped
        {"text": "é a\ud800b \\\udfff", "big": 2**70},
    ],
    ids=["orjson", "int-keys", "huge-int", "lone-surrogate"],
)
def test_body_encodes_like_the_stdlib(body: dict[str, Any]) -> None:
    call = ClientConfig(api_key=KEY).call("POST", "/v1/messages", body)
    assert call.content is not None
    assert json.loads(call.content) == json.loads(json.dumps(body))


def test_a_lone_surrogate_is_sent_as_its_escape_and_the_rest_as_utf8() -> None:
    call = ClientConfig(api_key=KEY).call("POST", "/v1/messages", {"text": "é a\ud800b"})
    assert call.content == '{"text":"é a\\ud800b"}'.encode()


def test_repr_and_str_redact_credentials() -> None:
    config = ClientConfig(api_key=KEY, auth_token="tok-SECRET")
    for text in (repr(config), str(config)):
        assert KEY not in text and "tok-SECRET" not in text and "<redacted>" in text


def test_redact_replaces_echoed_secrets() -> None:
    config = ClientConfig(api_key=KEY)
    assert config.redact(f'{{"message": "bad key {KEY}"}}'.encode()) == (
        b'{"message": "bad key <redacted>"}'
    )


# -- message_body -------------------------------------------------------------------------------

_KEYS = ("model", "max_tokens", "messages")
_PARAMS = {"model": "m", "max_tokens": 5, "messages": []}


def test_message_body_fast_path_does_not_copy() -> None:
    assert message_body(_PARAMS, {}, "create", _KEYS) is _PARAMS


def test_message_body_merges_keywords_over_params() -> None:
    body = message_body(_PARAMS, {"max_tokens": 9}, "create", _KEYS)
    assert body == {**_PARAMS, "max_tokens": 9} and _PARAMS["max_tokens"] == 5


def test_message_body_names_missing_keys() -> None:
    with pytest.raises(UsageError, match="max_tokens, messages"):
        message_body(None, {"model": "m"}, "create", _KEYS)


def test_message_body_stream_flag() -> None:
    assert message_body(_PARAMS, {}, "stream", _KEYS, stream=True)["stream"] is True
    assert "stream" not in _PARAMS
    with pytest.raises(UsageError, match="stream"):
        message_body(_PARAMS, {"stream": True}, "create", _KEYS)


def test_credentials_are_trimmed_and_control_characters_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", f"  {KEY}\n")
    assert ClientConfig().call("GET", "/v1/models").headers["x-api-key"] == KEY
    with pytest.raises(UsageError, match="line break") as caught:
        ClientConfig(auth_token="tok\nSECRET")
    assert "SECRET" not in str(caught.value)


def test_retryable_reads_the_error_alone() -> None:
    assert retryable(error_from_response(529, {}, b""))
    assert not retryable(error_from_response(400, {}, b""))
    assert not retryable(error_from_response(500, {"x-should-retry": "false"}, b""))
    assert retryable(error_from_response(400, {"x-should-retry": "true"}, b""))
    assert retryable(APIConnectionError("reset"))
    assert not retryable(APIStreamError("bad", error_type="invalid_request_error"))
    assert not retryable(ValueError("not an API error"))


def test_backoff_honours_a_short_retry_after_else_doubles_with_jitter() -> None:
    assert backoff(0, retry_after=1.5, rand=0.9) == 1.5
    assert backoff(0, retry_after=120, rand=0.0) == 0.5
    assert [backoff(n, rand=0.0) for n in range(5)] == [0.5, 1, 2, 4, 8]
    assert backoff(1, rand=1.0) == 0.75
