"""The served gallery in headless Chromium: pairs shown, corrections marked, filters applied, a screenshot kept.

Filtering is checked twice: from the URL query (what a shared link does, via --dump-dom) and by
clicking and typing in the controls (over the DevTools protocol on a pipe, standard library only).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pytest
from PIL import Image

from quilt.adapters.store import LocalStore, put_json
from quilt.core.imaging import encode_jpeg
from quilt.core.keys import frame_key, pair_key
from quilt.core.records import PairRecord
from quilt.gallery.server import LiveGallery, make_server
from quilt.gallery.sources import BucketSource
from quilt.testing import impure

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
WINDOW = (1280, 900)
# Without the networking switches Chromium waits on update and sync servers this machine cannot reach.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--window-size={WINDOW[0]},{WINDOW[1]}"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"needs Debian's chromium at {CHROMIUM} (scripts/system_deps.sh installs it)")

EVIL_VIDEO = "talk\"><img src=x onerror=document.title='pwned'>"


@dataclass
class Pair:
    """One pair to store: its picture (a generator from quilt/testing/impure) and what matters to the page."""
    pair_id: str
    video: str
    chunk: str
    frame: impure.Frame
    text: str
    mag: str
    organs: list[str]
    heard: dict[str, str] = field(default_factory=dict)
    t: float = 0.0


def _pairs() -> list[Pair]:
    liver_frame, skin_frame = impure.clean_tissue(1), impure.arrow_on_tissue(4)
    arrow_and_text = (skin_frame[0], {"arrow_or_pointer", "text_overlay"}, None)
    return [
        Pair("liv-1", "lecture-liver", "c1", liver_frame, "The bile duct is lined by cuboidal epithelium.",
             "high", ["liver", "gastrointestinal"], {"myel duct": "bile duct"}, 62),
        Pair("liv-2", "lecture-liver", "c1", liver_frame, "A portal triad with hepatic artery and portal vein.",
             "high", ["liver", "gastrointestinal"], t=71),
        Pair("liv-3", "lecture-liver", "c2", impure.viewer_window(2), "Low power shows bridging fibrosis.",
             "low", ["liver"], {"fibre doses": "fibrosis"}, 95),
        Pair("skin-1", "lecture-skin", "c1", impure.presenter(3), "Today we look at melanoma in situ.",
             "unknown", ["dermatopathology"], {"melon oma": "melanoma"}, 5),
        Pair("skin-2", "lecture-skin", "c2", arrow_and_text, "Nests of atypical melanocytes at the junction.",
             "medium", ["dermatopathology", "soft tissue"], t=48),
        Pair("skin-3", "lecture-skin", "c3", impure.clean_ihc(5), "Ki-67 stains the proliferating nuclei.",
             "medium", ["dermatopathology"], t=130),
        Pair("evil-1", EVIL_VIDEO, "c1", impure.multi_panel(6),
             "<img src=x onerror=\"document.title='pwned'\"> Granulomas <b>with</b> giant cells.",
             "low", ["<svg onload=alert(1)>"], t=3),
    ]


def _record(pair: Pair, n: int) -> PairRecord:
    image, tags, crop = pair.frame
    asr = pair.text
    for heard, written in pair.heard.items():
        asr = asr.replace(written, heard)
    created = {"lecture-liver": "10", "lecture-skin": "09"}.get(pair.video, "08")
    return PairRecord(
        pair_id=pair.pair_id, video_id=pair.video, source=f"{pair.video}.mp4", image=frame_key("v", pair.pair_id),
        t_start=pair.t, t_end=pair.t + 7.5, text=pair.text, asr_text=asr, histo_score=0.6 + 0.05 * n,
        created_at=f"2026-11-25T{created}:00:00Z", image_id=f"{pair.video}-{pair.chunk}", align_score=0.9 - 0.1 * n,
        corrections=pair.heard, entities=[{"text": "epithelium", "category": "tissue"},
                                          {"text": "melanocytes", "category": "cell"}],
        impurity_tags=sorted(tags), crop=list(crop) if crop else [], magnification=pair.mag,
        sub_pathology=pair.organs)


@pytest.fixture(scope="module")
def gallery_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = LocalStore(tmp_path_factory.mktemp("bucket"))
    for n, pair in enumerate(_pairs()):
        record = _record(pair, n)
        store.put_bytes(record.image, encode_jpeg(pair.frame[0]))
        put_json(store, pair_key("v", record.pair_id), record.to_dict())
    server = make_server(LiveGallery(BucketSource(store), limit=50), 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=30, check=True)


class _Dom(HTMLParser):
    """Which pairs the DOM shows (neither the pair nor its card hidden), and the other few things asserted."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: dict[str, bool] = {}
        self.marks: list[tuple[str, str]] = []  # (title, text) of each correction mark
        self.images = 0
        self.count = ""
        self.title = ""
        self._group_hidden = False
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if "group" in classes:
            self._group_hidden = "hidden" in a
        elif "pair" in classes:
            self.pairs[a["data-pair-id"] or ""] = not (self._group_hidden or "hidden" in a)
        self.images += tag == "img"
        if tag == "mark" and "fix" in classes:
            self.marks.append((a.get("title") or "", ""))
            self._in = "mark"
        elif a.get("id") == "count" or tag == "title":
            self._in = tag if tag == "title" else "count"

    def handle_endtag(self, tag: str) -> None:
        if (self._in, tag) in (("mark", "mark"), ("count", "span"), ("title", "title")):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "mark":
            self.marks[-1] = (self.marks[-1][0], self.marks[-1][1] + data)
        elif self._in == "count":
            self.count += data
        elif self._in == "title":
            self.title += data

    @property
    def visible(self) -> set[str]:
        return {pid for pid, shown in self.pairs.items() if shown}


def _dom(url: str) -> _Dom:
    dom = _Dom()
    dom.feed(_chromium("--dump-dom", url).stdout)
    return dom


ALL = {"liv-1", "liv-2", "liv-3", "skin-1", "skin-2", "skin-3", "evil-1"}


def test_page_shows_every_pair_with_corrections_marked(gallery_url: str) -> None:
    dom = _dom(gallery_url)
    assert dom.visible == ALL and set(dom.pairs) == ALL
    assert dom.count == "7 pairs"
    assert ("heard: myel duct", "bile duct") in dom.marks and ("heard: melon oma", "melanoma") in dom.marks
    # The hostile text and video id stayed text: no injected element ran or exists.
    assert dom.title == "quilt pairs"
    assert dom.images == 6 + 1  # six pictures (liv-1 and liv-2 share one) and the zoom dialog's


@pytest.mark.parametrize(("query", "expected"), [
    ({"video": "lecture-skin"}, {"skin-1", "skin-2", "skin-3"}),
    ({"tag": "clean"}, {"liv-1", "liv-2", "skin-3"}),
    ({"video": "lecture-liver", "tag": "clean"}, {"liv-1", "liv-2"}),
    # Within a facet tags are alternatives, across facets all must hold.
    ([("tag", "mag:medium"), ("tag", "mag:low"), ("tag", "dermatopathology")], {"skin-2", "skin-3"}),
    ({"tag": "soft tissue"}, {"skin-2"}),
    ({"video": EVIL_VIDEO}, {"evil-1"}),
])
def test_url_query_filters_on_load(gallery_url: str, query: Any, expected: set[str]) -> None:
    dom = _dom(gallery_url + "?" + urlencode(query))
    assert dom.visible == expected
    assert dom.count == f"{len(expected)} of 7 pairs"


def test_screenshot(gallery_url: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / "gallery.png"
    target.unlink(missing_ok=True)
    _chromium(f"--screenshot={target}", gallery_url)
    with Image.open(target) as shot:
        assert shot.format == "PNG" and shot.size == WINDOW
        rgb = np.asarray(shot.convert("RGB"), dtype=np.int16)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    stained = (red > green + 40) & (blue > green + 20)  # H&E pink and purple: the pictures were served and drawn
    assert stained.mean() > 0.1


class _DevTools:
    """Chromium driven over --remote-debugging-pipe: JSON messages, NUL-terminated, on fds 3 (in) and 4 (out)."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="quilt-chromium-")
        to_child, self._to_browser = os.pipe()
        self._from_browser, from_child = os.pipe()
        # Moved above 9 so placing them on 3 and 4 in the child cannot overwrite each other.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child, from_child)]
        for fd in (to_child, from_child):
            os.close(fd)
        script = f'exec "$0" "$@" 3<&{high[0]} 4>&{high[1]}'
        self.proc = subprocess.Popen(
            ["bash", "-c", script, CHROMIUM, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
             "about:blank"], pass_fds=high, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in high:
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self._from_browser, 65536) if ready else b""
            if not chunk:
                raise TimeoutError("no answer from chromium")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return dict(json.loads(raw))

    def call(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 15
        while True:  # events arrive in between; skip them
            reply = self._message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply["result"])

    def evaluate(self, expression: str) -> Any:
        reply = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        return reply["result"].get("value")

    def open(self, url: str) -> None:
        self.call("Page.navigate", session=True, url=url)
        deadline = time.monotonic() + 15
        while self.evaluate("document.readyState + ' ' + location.href") != f"complete {url}":
            assert time.monotonic() < deadline, "page did not load"
            time.sleep(0.05)

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element, as a user makes it."""
        x, y = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                             ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", session=True, type=kind, x=x, y=y, button="left", clickCount=1)

    def visible_pairs(self) -> set[str]:
        return set(self.evaluate("[...document.querySelectorAll('.pair')]"
                                 ".filter((p) => p.offsetParent !== null).map((p) => p.dataset.pairId)"))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (OSError, TimeoutError, RuntimeError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture()
def browser() -> Iterator[_DevTools]:
    devtools = _DevTools()
    try:
        yield devtools
    finally:
        devtools.close()


def test_clicking_and_typing_filter_and_update_the_url(gallery_url: str, browser: _DevTools) -> None:
    browser.open(gallery_url)
    assert browser.visible_pairs() == ALL

    browser.click('.filter-chip[data-tag="person"]')
    assert browser.visible_pairs() == {"skin-1"}
    assert browser.evaluate("location.search") == "?tag=person"
    assert browser.evaluate("document.getElementById('count').textContent") == "1 of 7 pairs"

    # The video selector: choose an option the way the dropdown does, then let its change handler run.
    browser.evaluate("const s = document.getElementById('video'); s.value = 'lecture-liver';"
                     "s.dispatchEvent(new Event('change'))")
    assert browser.visible_pairs() == set()
    assert browser.evaluate("document.getElementById('empty').hidden") is False

    browser.click('.filter-chip[data-tag="person"]')  # a second click lifts the tag
    assert browser.visible_pairs() == {"liv-1", "liv-2", "liv-3"}
    assert browser.evaluate("location.search") == "?video=lecture-liver"

    browser.click("#q")
    browser.call("Input.insertText", session=True, text="fibrosis")
    assert browser.visible_pairs() == {"liv-3"}
    assert browser.evaluate("location.search") == "?video=lecture-liver&q=fibrosis"

    browser.click("#reset")
    assert browser.visible_pairs() == ALL and browser.evaluate("location.search") == ""
