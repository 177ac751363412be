"""Inputs for the fault suite, generated at run time: good lectures (distinct tissue per seed, so no
video repeats another's picture) and each kind of bad input."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from quilt.evaluation.bench.espeak import espeak
from quilt.testing.lecture import SlideSpec, make_corrupt, make_lecture
from quilt.testing.speech import SAMPLE_RATE, resample


def good_lecture(path: Path, seed: int) -> Path:
    """About 17 s: a title slide (chatter), then two tissue slides with medical narration."""
    make_lecture(path, [
        SlideSpec("text", 3.0, "Welcome back to the channel.", title="Liver pathology"),
        SlideSpec("histology", 7.0, "This hematoxylin and eosin section shows hepatocytes around the bile duct.",
                  seed=seed),
        SlideSpec("ihc", 7.0, "The lymphocytes show necrosis next to the glandular epithelium.", seed=seed + 1),
    ])
    return path


def silent_lecture(path: Path, seed: int) -> Path:
    """Tissue on screen, an audio track with no speech: finishes with no pairs."""
    make_lecture(path, [SlideSpec("histology", 6.0, "", seed=seed)])
    return path


def foreign_lecture(path: Path, seed: int) -> Path:
    """A tissue slide narrated in Spanish (espeak-ng), for the non-English check."""
    text = ("Esta sección teñida con hematoxilina y eosina muestra hepatocitos alrededor del conducto biliar. "
            "Los linfocitos muestran necrosis junto al epitelio glandular.")
    audio, rate = espeak(text, "es")
    speech = resample(audio, rate, SAMPLE_RATE)
    _video_with_audio(path, speech, seconds=len(speech) / SAMPLE_RATE + 0.5, size=(320, 240), fps=10, seed=seed)
    return path


def _video_with_audio(path: Path, audio: np.ndarray | None, seconds: float, size: tuple[int, int], fps: int,
                      seed: int, bitrate: int | None = None) -> None:
    """A plain H.264 (+AAC) file of coloured noise frames; small and quick to write."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "40"}
        if bitrate:
            video.bit_rate = bitrate
        sound = out.add_stream("aac", rate=SAMPLE_RATE) if audio is not None else None
        frame_count = max(1, int(seconds * fps))
        base = rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
        image = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))
        for i in range(frame_count):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None and audio is not None:
            samples = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
            for start in range(0, len(samples), 1024):
                chunk = samples[start:start + 1024].reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
                frame.sample_rate = SAMPLE_RATE
                frame.pts = start
                for packet in sound.encode(frame):
                    out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)


def uhd_60fps(path: Path, seed: int) -> Path:
    """3840x2160 at 60 fps, a third of a second: over the suite's pixel and frame-rate limits."""
    _video_with_audio(path, None, seconds=0.34, size=(3840, 2160), fps=60, seed=seed)
    return path


def long_video(path: Path, seconds: float, seed: int) -> Path:
    """A tiny 1-fps picture with silent audio, longer than the suite's duration limit."""
    _video_with_audio(path, np.zeros(int(seconds * SAMPLE_RATE), np.float32), seconds=seconds, size=(64, 48),
                      fps=1, seed=seed)
    return path


def audio_only(path: Path) -> Path:
    """An M4A of narration: no picture to pair."""
    audio, rate = espeak("The hepatocytes surround the central vein.", "en-us")
    speech = resample(audio, rate, SAMPLE_RATE)
    with av.open(str(path), "w", format="mp4") as out:
        sound = out.add_stream("aac", rate=SAMPLE_RATE)
        samples = (np.clip(speech, -1, 1) * 32767).astype(np.int16)
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[start:start + 1024].reshape(1, -1), format="s16",
                                               layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            for packet in sound.encode(frame):
                out.mux(packet)
        for packet in sound.encode():
            out.mux(packet)
    return path


def corrupt(path: Path) -> Path:
    make_corrupt(path, "garbage")
    return path


def truncated(path: Path) -> Path:
    make_corrupt(path, "truncated")
    return path


def empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


class _Handler(http.server.BaseHTTPRequestHandler):
    redirect_to = ""

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.redirect_to)
            self.end_headers()
            return
        body = b"<!doctype html><html><body><h1>Liver pathology</h1><p>Not a video.</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def web_server(redirect_to: str) -> Iterator[str]:
    """http://127.0.0.1:PORT serving an HTML page at /page.mp4 and a 302 to `redirect_to` at /redirect.mp4."""
    handler = type("Handler", (_Handler,), {"redirect_to": redirect_to})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
