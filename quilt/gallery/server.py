"""`quilt gallery --serve`: the page of the newest pairs, re-read on every load, on loopback only.

GET /                the page (records read from the source at that moment)
GET /images/NAME     a picture the page names, read straight from the store
"""

from __future__ import annotations

import http.server
import mimetypes
import threading
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from quilt.core.records import PairRecord
from quilt.gallery.assets import CONTENT_SECURITY_POLICY
from quilt.gallery.build import group_by_image, image_name, newest_first, render
from quilt.gallery.markup import esc
from quilt.gallery.page import Item
from quilt.gallery.sources import PairSource

LOOPBACK = "127.0.0.1"  # the page shows unpublished data and the server has no authentication


class LiveGallery:
    """Builds the page from the source's current records and remembers which image names it handed out."""

    def __init__(self, source: PairSource, limit: int, title: str = "quilt pairs") -> None:
        self.source = source
        self.limit = limit
        self.title = title
        self._images: dict[str, PairRecord] = {}
        self._lock = threading.Lock()

    def page(self) -> str:
        records = newest_first(self.source.records())[: self.limit]
        items: list[Item] = []
        named: dict[str, PairRecord] = {}
        for group in group_by_image((record, "") for record in records):
            name = image_name(group[0][0])
            named[name] = group[0][0]
            items += [(record, f"images/{name}") for record, _ in group]
        with self._lock:
            # Kept across loads: a page opened a minute ago may still ask for an image newer pairs pushed out.
            self._images.update(named)
        return render(items, self.title, f"live from {self.source.description}")

    def image(self, name: str) -> tuple[bytes, str] | None:
        """The image's bytes and content type, or None for a name no page was given."""
        with self._lock:
            record = self._images.get(name)
        if record is None:
            return None
        try:
            data = self.source.image_bytes(record)
        except KeyError:
            return None
        return data, mimetypes.guess_type(name)[0] or "image/jpeg"


class _Handler(http.server.BaseHTTPRequestHandler):
    gallery: LiveGallery  # set on the subclass made by make_server
    server_version = "quilt-gallery"

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            try:
                body = self.gallery.page().encode("utf-8")
            except Exception as err:  # the store is down or unreadable: say so instead of dropping the connection
                self._send(HTTPStatus.BAD_GATEWAY, f"<p>cannot read pairs: {esc(err)}</p>".encode(), "text/html")
                return
            self._send(HTTPStatus.OK, body, "text/html; charset=utf-8", cache="no-store",
                       extra={"Content-Security-Policy": CONTENT_SECURITY_POLICY})
        elif path.startswith("/images/"):
            found = self.gallery.image(unquote(path[len("/images/"):]))
            if found is None:
                self._send(HTTPStatus.NOT_FOUND, b"no such image", "text/plain")
            else:
                self._send(HTTPStatus.OK, found[0], found[1], cache="max-age=300")
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, cache: str = "no-store",
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's signature
        pass  # one line per image request would drown the terminal the command prints its URL to


def make_server(gallery: LiveGallery, port: int) -> http.server.ThreadingHTTPServer:
    """A server bound to 127.0.0.1:port (0 picks a free port: see server.server_address)."""
    handler = type("GalleryHandler", (_Handler,), {"gallery": gallery})
    return http.server.ThreadingHTTPServer((LOOPBACK, port), handler)
