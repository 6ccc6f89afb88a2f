"""Every exception agentkit raises, in one tree (the public home of the error classes).

```
AgentkitError
  APIError                      the API or the network failed
    APIConnectionError > APITimeoutError, IncompleteStreamError
    APIStreamError              an `error` event inside a stream
    APIStatusError              an HTTP error status, by code:
      BadRequestError 400, AuthenticationError 401, BillingError 402,
      PermissionDeniedError 403, NotFoundError 404, ConflictError 409,
      RequestTooLargeError 413, UnprocessableEntityError 422, RateLimitError 429,
      InternalServerError 5xx > OverloadedError 529
  ConversationError             we would have sent an invalid request (nothing was sent)
  ModelBehaviorError            the model sent something unusable > MalformedStreamError
  ToolError                     raised by a tool: becomes an `is_error` result
  RunError                      a run failed; carries the conversation and usage > LimitExceeded
  UsageError                    a developer mistake, raised where it is made
  WorkflowError                 a workflow helper failed
  ResultsWriteError             a batch's results file could not be written (a full disk)
  StoreError                    the run store failed > StoreFormatError, RunLockedError,
                                RunMismatchError, RunNotFoundError
```
"""

from ._errors import (
    AgentkitError,
    APIConnectionError,
    APIError,
    APIStatusError,
    APIStreamError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BillingError,
    ConflictError,
    ConversationError,
    IncompleteStreamError,
    InternalServerError,
    LimitExceeded,
    MalformedStreamError,
    ModelBehaviorError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    ResultsWriteError,
    RunError,
    RunLockedError,
    RunMismatchError,
    RunNotFoundError,
    StoreError,
    StoreFormatError,
    ToolError,
    UnprocessableEntityError,
    UsageError,
    WorkflowError,
)
from ._public import present_as

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APIStreamError",
    "APITimeoutError",
    "AgentkitError",
    "AuthenticationError",
    "BadRequestError",
    "BillingError",
    "ConflictError",
    "ConversationError",
    "IncompleteStreamError",
    "InternalServerError",
    "LimitExceeded",
    "MalformedStreamError",
    "ModelBehaviorError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTooLargeError",
    "ResultsWriteError",
    "RunError",
    "RunLockedError",
    "RunMismatchError",
    "RunNotFoundError",
    "StoreError",
    "StoreFormatError",
    "ToolError",
    "UnprocessableEntityError",
    "UsageError",
    "WorkflowError",
]

present_as(__name__, __all__, globals())
