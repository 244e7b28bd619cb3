"""The one exception tree of ScreenScribe.

Every failure the user can meet is one of these, with a message written for a person
(``str(exc)``), and the CLI's exit code on the class::

    ScreenScribeError                      exit 1  (anything else)
    ├── UsageError                         exit 2  bad flags, unreadable input file
    │   └── ImageError                     exit 2  not an image, empty, too big, odd shape
    ├── ConfigError                        exit 2  settings file unusable, unknown profile
    ├── SecretStoreError                   exit 2  no keyring backend, keyring refused
    ├── EndpointError                              anything that went wrong talking to a server
    │   ├── EndpointUnreachable            exit 3  DNS, refused, reset, TLS, connect/idle timeout
    │   │   └── EndpointTimeout            exit 3  connect timeout or no bytes for the idle timeout
    │   ├── AuthenticationError            exit 4  401 / 403
    │   ├── RequestRejected                exit 5  other 4xx
    │   │   ├── ContextTooLong             exit 5  image + conversation longer than the context
    │   │   └── ModelNotFound              exit 5  the server has no such model
    │   ├── ServerError                    exit 6  5xx after retries, 429 after retries
    │   │   └── StreamBroken               exit 6  error in a 200 stream, malformed or cut stream
    │   └── Cancelled                      exit 130
    └── (KeyboardInterrupt is not ours; the CLI maps it to 130 too)

``httpx`` exceptions never leave ``core.endpoint``: callers only ever see these.
"""

from __future__ import annotations


class ScreenScribeError(Exception):
    """Base class. ``str(exc)`` is one line a person can read."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(ScreenScribeError):
    exit_code = 2


class ImageError(UsageError):
    """The input could not be used as an image."""


class ConfigError(ScreenScribeError):
    exit_code = 2


class SecretStoreError(ScreenScribeError):
    exit_code = 2


class EndpointError(ScreenScribeError):
    """A server could not be reached, refused the request or failed while answering."""

    exit_code = 6

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        server_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.server_message = server_message


class EndpointUnreachable(EndpointError):
    exit_code = 3


class EndpointTimeout(EndpointUnreachable):
    pass


class AuthenticationError(EndpointError):
    exit_code = 4


class RequestRejected(EndpointError):
    exit_code = 5


class ContextTooLong(RequestRejected):
    pass


class ModelNotFound(RequestRejected):
    def __init__(self, message: str, *, model: str | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.model = model


class ServerError(EndpointError):
    exit_code = 6


class StreamBroken(ServerError):
    pass


class Cancelled(EndpointError):
    exit_code = 130

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)
