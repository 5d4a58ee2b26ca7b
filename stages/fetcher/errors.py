"""The fetcher's failures, as small subclasses of the core errors.

Every failure the HTTP engine raises has a stable ``error_class`` (the DLQ
reason and the metric label) and ``retriable``; the retriable ones also carry
``retry_after_seconds`` so the stage can schedule the retry no earlier than
the server asked. aiohttp's exceptions are translated here, at the boundary,
so nothing above the engine needs to know aiohttp's exception tree.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
from yarl import URL

from stages.core.errors import BadMessage, TransientError
from stages.core.shorten import shorten
from stages.core.urls import BAD_URL

# Stable error classes. Final ones go to the DLQ; retriable ones are retried (docs/fetcher-errors.md).
BLOCKED_ADDRESS = "blocked_address"
ROBOTS_DISALLOWED = "robots_disallowed"
ROBOTS_UNAVAILABLE = "robots_unavailable"
THROTTLED = "throttled"
TIMEOUT = "timeout"
CONNECTION = "connection"
DNS = "dns"
TLS = "tls"
BAD_RESPONSE = "bad_response"
HTTP_STATUS = "http_status"
UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"
UNSUPPORTED_CONTENT_ENCODING = "unsupported_content_encoding"
DECODE_ERROR = "decode_error"
TOO_LARGE = "too_large"
DECODE_BOMB = "decode_bomb"
REDIRECT_LOOP = "redirect_loop"
TOO_MANY_REDIRECTS = "too_many_redirects"
TOO_MANY_HEADERS = "too_many_headers"
HEADER_TOO_LARGE = "header_too_large"
DEFERRED_TOO_OFTEN = "deferred_too_often"
# Never in the DLQ: a request cut in the slow lane is fetched again by the same message.
SLOW_REQUEST = "slow_request"


class RetriableFetchError(TransientError):
    """A fetch that may succeed later; ``retry_after_seconds`` is the server's wish, if it said."""

    def __init__(
        self,
        message: str,
        *,
        error_class: str,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message, error_class=error_class)
        self.retry_after_seconds = retry_after_seconds


class RetriableHttpStatus(RetriableFetchError):
    """429, 408 or 5xx: the host is overloaded or broken for now."""

    def __init__(self, message: str, *, status: int, retry_after_seconds: float | None) -> None:
        super().__init__(message, error_class=HTTP_STATUS, retry_after_seconds=retry_after_seconds)
        self.status = status


class FinalHttpStatus(BadMessage):
    """Any other non-success status (404, 410, 403, a 3xx without Location …)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message, error_class=HTTP_STATUS)
        self.status = status


@contextmanager
def translate_transport_errors(url: URL) -> Iterator[None]:
    """Re-raise aiohttp and socket failures as crawlpipe errors naming the URL.

    Order matters: aiohttp's timeout errors are also connection errors, and
    its DNS and TLS errors are also connector errors.
    """
    try:
        yield
    except TimeoutError as exc:
        raise RetriableFetchError(
            f"{url}: timed out ({exc.__class__.__name__}); raise the fetcher's "
            "connect/read/total timeouts if this host is merely slow",
            error_class=TIMEOUT,
        ) from exc
    except aiohttp.ClientConnectorDNSError as exc:
        raise RetriableFetchError(f"{url}: DNS lookup failed: {exc}", error_class=DNS) from exc
    except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
        raise BadMessage(f"{url}: TLS failure: {exc}", error_class=TLS) from exc
    except aiohttp.InvalidURL as exc:
        raise BadMessage(f"{url}: refused by the HTTP client: {exc}", error_class=BAD_URL) from exc
    except aiohttp.ClientResponseError as exc:
        # With raise_for_status off this only means a malformed response
        # (too many headers, a header too long, broken framing): the host will send it again.
        raise BadMessage(f"{url}: malformed HTTP response: {shorten(exc.message)}",
                         error_class=_malformed_class(exc.message)) from exc
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError) as exc:
        raise RetriableFetchError(
            f"{url}: connection failed or was cut: {exc!r}", error_class=CONNECTION
        ) from exc


def _malformed_class(message: str) -> str:
    """The class of a response aiohttp's parser refused; it tells only in its message, the same for both parsers."""
    said = message.lower()
    if "too many headers" in said:
        return TOO_MANY_HEADERS
    if "got more than" in said or "too long" in said:
        return HEADER_TOO_LARGE
    return BAD_RESPONSE
