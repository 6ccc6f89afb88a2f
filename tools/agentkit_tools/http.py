"""An HTTP fetch tool: GET a URL and return readable text, refusing private addresses.

Owns `http_toolset`, `fetch` and the address policy. Rules: only `http` and `https`; the host is
resolved first and *every* address it resolves to must be public (not loopback, private,
link-local, shared, reserved, multicast or unspecified) unless `allow_private=True`; the
connection then goes to the address that was checked (the URL's host is kept for the `Host`
header and TLS SNI/certificate checks), so DNS rebinding cannot slip in a private address between
check and connect; redirects are followed by hand, each hop checked the same way; the whole fetch
has one timeout, covering the HTML conversion too, and the body a byte cap, enforced while it is
decoded (`_decoding.CappedDecoder`, so no compression bomb); no proxies, `.netrc` or cookies from
the environment. HTML is turned into Markdown with markdownify (the `tools` extra), scripts and
styles dropped, in a worker thread (a large page must not stall the event loop) that stops at
the timeout.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from agentkit import ToolError, Toolset, UsageError, tool

from ._decoding import CappedDecoder

if TYPE_CHECKING:  # imported where used: listing the tools (`agentkit tools`) loads no httpx, anyio
    import httpx

__all__ = ["FetchResult", "fetch", "html_to_text", "http_toolset", "is_public_address"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_DROP_TAGS = ("script", "style", "noscript", "template", "svg", "iframe", "head")
_USER_AGENT = "agentkit-fetch/0.1"


def is_public_address(address: str) -> bool:
    """Whether an IP address is globally routable (so a fetch may connect to it by default)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve_host(host: str, port: int) -> list[str]:
    """The IP addresses `host` resolves to (IP literals resolve to themselves)."""
    import anyio

    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def _checked_address(url: httpx.URL, allow_private: bool) -> str:
    """Resolve the URL's host and return the address to connect to, or refuse it."""
    if url.scheme not in ("http", "https"):
        raise ToolError(f"only http and https URLs can be fetched, not {url.scheme or 'no'!r}")
    if not url.host:
        raise ToolError(f"the URL {str(url)!r} has no host")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = await resolve_host(url.raw_host.decode("ascii"), port)
    except (OSError, UnicodeError) as exc:
        raise ToolError(f"cannot resolve {url.host!r}: {exc}") from None
    if not addresses:
        raise ToolError(f"{url.host!r} resolves to no address")
    if not allow_private:
        refused = [address for address in addresses if not is_public_address(address)]
        if refused:
            raise ToolError(
                f"refused to fetch {str(url)!r}: {url.host} resolves to a non-public address "
                f"({refused[0]}: loopback, private, link-local or reserved); only public "
                "internet addresses may be fetched"
            )
    return addresses[0]


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A fetched response, its body cut at the byte cap."""

    url: str
    """The final URL, after redirects."""
    status_code: int
    reason: str
    content_type: str
    body: bytes
    truncated: bool
    """Whether the body was longer than the cap and cut."""
    encoding: str | None
    """The charset the response declared, if any."""


async def fetch(
    url: str,
    *,
    allow_private: bool = False,
    timeout: float = 20.0,
    max_bytes: int = 2_000_000,
    max_redirects: int = 5,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FetchResult:
    """GET `url` under the address policy, following up to `max_redirects` checked redirects.

    Raises:
        ToolError: a refused URL or address, too many redirects, a timeout or a network error.
    """
    import anyio
    import httpx

    try:
        current = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ToolError(f"invalid URL {url!r}: {exc}") from None
    limits = httpx.Timeout(timeout)
    try:
        with anyio.fail_after(timeout):
            async with httpx.AsyncClient(
                transport=transport, timeout=limits, trust_env=False, follow_redirects=False
            ) as client:
                for _ in range(max_redirects + 1):
                    address = await _checked_address(current, allow_private)
                    request = client.build_request(
                        "GET",
                        current.copy_with(host=address),
                        headers={
                            "Host": current.netloc.decode("ascii"),
                            "User-Agent": _USER_AGENT,
                            "Accept": "text/html, text/plain;q=0.9, */*;q=0.5",
                            # Uncompressed, so the byte cap bounds memory (no gzip bombs).
                            "Accept-Encoding": "identity",
                        },
                        extensions={"sni_hostname": current.host},
                    )
                    response = await client.send(request, stream=True)
                    try:
                        location = response.headers.get("location")
                        if response.status_code in _REDIRECTS and location:
                            current = current.join(location)
                            continue
                        body, truncated = await _read_capped(response, max_bytes)
                    finally:
                        await response.aclose()
                    return FetchResult(
                        url=str(current),
                        status_code=response.status_code,
                        reason=response.reason_phrase,
                        content_type=response.headers.get("content-type", ""),
                        body=body,
                        truncated=truncated,
                        encoding=response.charset_encoding,
                    )
    except TimeoutError:
        raise ToolError(f"fetching {url!r} timed out after {timeout:g} s") from None
    except httpx.TimeoutException:
        raise ToolError(f"fetching {url!r} timed out") from None
    except httpx.HTTPError as exc:
        raise ToolError(f"fetching {str(current)!r} failed: {exc}") from None
    raise ToolError(f"more than {max_redirects} redirects fetching {url!r}; giving up")


async def _read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    """The body, decoded, cut at `max_bytes`; whether it was cut. Decoding runs in a worker
    thread and never makes more than the bytes still allowed."""
    import anyio.to_thread

    decoder = CappedDecoder(response.headers.get("content-encoding", ""))
    chunks: list[bytes] = []
    size = 0
    if response.is_stream_consumed:  # an in-memory reply (a transport built in tests): decoded
        return response.content[:max_bytes], len(response.content) > max_bytes
    async for raw in response.aiter_raw():
        room = max_bytes - size
        if decoder.identity:
            piece, over = raw[:room], len(raw) > room
        else:
            piece, over = await anyio.to_thread.run_sync(decoder.feed, raw, room)
        chunks.append(piece)
        size += len(piece)
        if over:
            return b"".join(chunks), True
    return b"".join(chunks), False


class _Stopped(Exception):
    """The conversion was asked to stop (its call timed out or was cancelled)."""


def _stoppable_converter(stop: threading.Event | None) -> Any:
    from markdownify import MarkdownConverter

    class Converter(MarkdownConverter):
        def process_tag(self, node: Any, parent_tags: Any = None) -> Any:
            if stop is not None and stop.is_set():
                raise _Stopped
            return super().process_tag(node, parent_tags)

    return Converter(heading_style="ATX", strip=["img"])


def html_to_text(html: bytes | str, stop: threading.Event | None = None) -> str:
    """Turn an HTML page into readable Markdown, without scripts, styles or the `<head>`.

    Setting `stop` (from another thread) makes the conversion raise `ToolError` soon after.
    """
    try:
        from bs4 import BeautifulSoup
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ToolError(
            "HTML conversion needs the 'tools' extra: pip install 'agentkit[tools]'"
        ) from None
    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else ""
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    try:
        text = _stoppable_converter(stop).convert_soup(soup)
    except _Stopped:
        raise ToolError("the HTML conversion was stopped") from None
    except RecursionError:  # markdownify recurses per nesting level; keep the text at least
        text = soup.get_text("\n")
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    first_line = text.split("\n", 1)[0]
    return f"# {title}\n\n{text}" if title and title not in first_line else text


async def _render_in_thread(result: FetchResult, max_chars: int) -> str:
    """`_render` in a worker thread; on cancellation the thread is told to stop."""
    import anyio.to_thread

    stop = threading.Event()
    try:
        return await anyio.to_thread.run_sync(
            partial(_render, result, max_chars, stop), abandon_on_cancel=True
        )
    finally:
        stop.set()


def _render(result: FetchResult, max_chars: int, stop: threading.Event | None = None) -> str:
    media = result.content_type.split(";", 1)[0].strip().lower()
    if media in _HTML_TYPES:
        text = html_to_text(result.body, stop)
    elif media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml")):
        text = result.body.decode(result.encoding or "utf-8", errors="replace")
    elif not media and b"\x00" not in result.body[:1024]:
        text = result.body.decode("utf-8", errors="replace")
    else:
        raise ToolError(
            f"{result.url} returned binary content ({media or 'unknown type'}, "
            f"{len(result.body)} bytes), which cannot be shown as text"
        )
    notes = []
    if result.truncated:
        notes.append("[the body was longer than the download cap and was cut]")
    if len(text) > max_chars:
        notes.append(f"[text cut at {max_chars} of {len(text)} characters]")
        text = text[:max_chars]
    header = f"URL: {result.url}\nStatus: {result.status_code} {result.reason}\n"
    header += f"Content-Type: {media or 'unknown'}\n\n"
    return header + text + ("\n\n" + "\n".join(notes) if notes else "")


def http_toolset(
    *,
    allow_private: bool = False,
    timeout: float = 20.0,
    max_bytes: int = 2_000_000,
    max_chars: int = 50_000,
    max_redirects: int = 5,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Toolset:
    """A `fetch_url` tool: HTTP GET with a timeout, size caps and a public-address-only policy.

    Args:
        allow_private: Also allow loopback, private and link-local addresses (e.g. for a local
            service); off by default so the model cannot reach the machine or its network.
        timeout: Seconds for the whole call: the fetch, redirects and the conversion to text.
        max_bytes: Bytes of response body downloaded at most.
        max_chars: Characters of text returned at most.
        max_redirects: Redirects followed at most (each one checked).
        transport: An httpx transport to send through (tests use `httpx.MockTransport`).

    Raises:
        UsageError: a limit is not positive.
    """
    if timeout <= 0 or max_bytes <= 0 or max_chars <= 0 or max_redirects < 0:
        raise UsageError("http_toolset needs positive timeout, max_bytes and max_chars")

    @tool
    async def fetch_url(url: str) -> str:
        """Fetch a web page or text resource with HTTP GET and return it as readable text.

        HTML is converted to Markdown (scripts, styles and images dropped); JSON, XML and
        plain text come back as they are; binary content is refused. The reply starts with
        the final URL (after redirects), the status and the content type. Only public
        internet addresses can be fetched, and long pages are cut.

        Args:
            url: Absolute http or https URL, e.g. "https://example.com/docs".
        """
        import anyio

        try:
            with anyio.fail_after(timeout):
                result = await fetch(
                    url,
                    allow_private=allow_private,
                    timeout=timeout,
                    max_bytes=max_bytes,
                    max_redirects=max_redirects,
                    transport=transport,
                )
                text = await _render_in_thread(result, max_chars)
        except TimeoutError:
            raise ToolError(
                f"fetching {url!r} and converting it to text took longer than {timeout:g} s"
            ) from None
        if result.status_code >= 400:
            raise ToolError(text[: min(max_chars, 4000)])
        return text

    return Toolset([fetch_url])
