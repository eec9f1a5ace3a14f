"""The Bot API transport: python-telegram-bot's BaseRequest on aiohttp instead of httpx.

Why it exists: every Bot API call costs CPU in the HTTP client, and the bot makes many. Against
the local fake Telegram, one sendMessage through PTB's ExtBot costs 1.15-1.5 ms of CPU with PTB's
default HTTPXRequest and 0.37-0.49 ms with this class (one sender at a time, or eight at once),
less than a third. aiohttp is already a dependency (fakegram).

Timeouts keep PTB's meaning, each defaulting to the instance's value unless a call passes its own
(getUpdates passes its long-poll read timeout):

- pool: waiting for one of the ``connection_pool_size`` connections; enforced here, so a full
  pool is reported as such and the request is known not to have been sent.
- connect: opening a connection (aiohttp's ``connect`` and ``sock_connect``).
- read: the longest silence while waiting for or reading the answer (``sock_read``).
- write: aiohttp has no write timeout. A form body leaves with the headers, so a dead peer is
  caught by the read timeout. An upload can stall mid-body, so for uploads the whole exchange
  (connect + write + read) must finish within the sum of those timeouts. This is stricter than
  httpx, which bounds each socket write: a large file on a slow link needs a larger
  ``write_timeout`` (or ``media_write_timeout``).
"""

from __future__ import annotations

import asyncio
import io
import urllib.request
from urllib.parse import urlsplit

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

FORM_URLENCODED = "application/x-www-form-urlencoded"
POOL_TIMEOUT_MESSAGE = (
    "Pool timeout: All connections in the connection pool are occupied. Request was *not* sent "
    "to Telegram. Consider adjusting the connection pool size or the pool timeout."
)


class AiohttpRequest(BaseRequest):
    """PTB's transport interface on one aiohttp session with a bounded connection pool."""

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_proxies",
        "_read_timeout",
        "_session",
        "_slots",
        "_write_timeout",
    )

    def __init__(
        self,
        *,
        connection_pool_size: int = 1,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        # The proxy for each scheme and host, read from the environment once per session.
        self._proxies: dict[tuple[str, str], str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout in seconds; PTB adds it to getUpdates' long-poll timeout."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session; does nothing if it is already open."""
        if self._session is not None:
            return
        # The semaphore is the pool as PTB sees it; the connector's limit only backs it up.
        self._slots = asyncio.Semaphore(self._pool_size)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._pool_size),
            headers={"User-Agent": self.USER_AGENT},
            # Telegram sets no cookies; the default jar would be consulted on every call.
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        self._proxies = {}

    async def shutdown(self) -> None:
        """Close the session and wait for its connections to close; safe to call twice."""
        session, self._session, self._slots = self._session, None, None
        if session is not None:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request and return the status and the body; see BaseRequest.do_request."""
        session, slots = self._session, self._slots
        if session is None or slots is None:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        uploads = request_data is not None and request_data.contains_files
        read = _chosen(read_timeout, self._read_timeout)
        connect = _chosen(connect_timeout, self._connect_timeout)
        write = _chosen(
            write_timeout, self._media_write_timeout if uploads else self._write_timeout
        )
        timeout = aiohttp.ClientTimeout(
            total=None, connect=connect, sock_connect=connect, sock_read=read
        )
        upload_deadline = None
        if uploads and connect is not None and write is not None and read is not None:
            upload_deadline = connect + write + read

        await _acquire(slots, _chosen(pool_timeout, self._pool_timeout))
        try:
            async with asyncio.timeout(upload_deadline):
                async with session.request(
                    method,
                    url,
                    data=_body(request_data),
                    timeout=timeout,
                    allow_redirects=False,  # as httpx: Telegram does not redirect
                    proxy=self._proxy(url),
                ) as response:
                    return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's timeout errors are TimeoutErrors too
            raise TimedOut from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc
        finally:
            slots.release()

    def _proxy(self, url: str) -> str | None:
        """The proxy the environment names for this URL's host, as PTB's httpx honours them:
        HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY. Where Telegram is blocked, operators reach
        the Bot API through one. Looked up once per host (aiohttp's own `trust_env` reads the
        environment and ~/.netrc on every request, which costs more than the request)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        key = (parts.scheme, host)
        if key not in self._proxies:
            bypass = bool(host) and urllib.request.proxy_bypass(host)
            proxies = urllib.request.getproxies()
            self._proxies[key] = None if bypass else proxies.get(parts.scheme, proxies.get("all"))
        return self._proxies[key]


def _chosen(value: ODVInput[float], default: float | None) -> float | None:
    """The timeout a call passed, or the instance's default when it passed none."""
    return default if isinstance(value, DefaultValue) else value


async def _acquire(slots: asyncio.Semaphore, pool_timeout: float | None) -> None:
    """Take a connection slot, waiting at most pool_timeout seconds for one to free up."""
    if not slots.locked():
        await slots.acquire()  # returns at once
        return
    try:
        async with asyncio.timeout(pool_timeout):
            await slots.acquire()
    except TimeoutError as exc:
        raise TimedOut(POOL_TIMEOUT_MESSAGE) from exc


def _body(request_data: RequestData | None) -> aiohttp.BytesPayload | aiohttp.FormData | None:
    """The parameters form-encoded, or as multipart form data when files are uploaded."""
    if request_data is None:
        return None
    if not request_data.contains_files:
        # Encoded here rather than by aiohttp.FormData, which takes four times as long.
        return aiohttp.BytesPayload(
            request_data.url_encoded_parameters().encode(), content_type=FORM_URLENCODED
        )
    # Unquoted fields send file names as UTF-8, as httpx does; quoting would percent-encode them.
    form = aiohttp.FormData(quote_fields=False)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        # aiohttp writes raw bytes in one go and warns above 1 MiB; a BytesIO goes out in chunks.
        chunked = io.BytesIO(content) if isinstance(content, bytes) else content
        form.add_field(name, chunked, filename=filename, content_type=mime_type)
    return form
