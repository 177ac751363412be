"""The LLM denoiser against a stand-in OpenAI-compatible server.

No LLM runs on this machine (two cores, no GPU, no internet), hence the stand-in: an
http.server on a free loopback port answering /chat/completions with canned replies.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from quilt.core.types import Segment, Word
from quilt.stages.common.corrector import DENOISER_NAME, Lexicon, load_lexicon
from quilt.stages.denoise.llm import LlmDenoiser, LlmReplyError, denoise_with, validate_reply

ASR = "The hepatoxylin stains the nuclei blue. Like and subscribe."
GOOD = {"corrected_text": "The hematoxylin stains the nuclei blue. Like and subscribe.",
        "corrections": [{"from": "hepatoxylin", "to": "hematoxylin", "score": 0.93}],
        "medical_sentences": ["The hematoxylin stains the nuclei blue."]}


class StandIn:
    """What the next request gets: `content` as the message text, or an HTTP `status`, after `delay_s`."""

    def __init__(self) -> None:
        self.content: str = json.dumps(GOOD)
        self.status = 200
        self.delay_s = 0.0
        self.requests: list[dict[str, Any]] = []


@pytest.fixture()
def server() -> Iterator[tuple[str, StandIn]]:
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append({"path": self.path, "body": json.loads(body)})
            time.sleep(state.delay_s)
            reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": state.content}}]})
            try:
                self.send_response(state.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(reply.encode())
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return load_lexicon()


def _segments() -> list[Segment]:
    ws = [Word(" " + t, i * 0.5, i * 0.5 + 0.4, 0.2 if t == "hepatoxylin" else 0.95)
          for i, t in enumerate(ASR.split())]
    return [Segment(0.0, ws[-1].end, ASR, ws)]


def test_valid_reply_is_used(server: tuple[str, StandIn], lexicon: Lexicon) -> None:
    url, state = server
    sentences, backend = denoise_with(LlmDenoiser(url, "stand-in", api_key="k"), _segments(), lexicon)
    assert backend == "llm:stand-in"
    assert [(s.text, s.medical) for s in sentences] == [
        ("The hematoxylin stains the nuclei blue.", True), ("Like and subscribe.", False)]
    assert sentences[0].corrections == {"hepatoxylin": "hematoxylin"}
    assert sentences[0].correction_scores == {"hepatoxylin": 0.93}
    assert ("hematoxylin", "stain") in sentences[0].entities
    assert sentences[0].start == 0.0
    [req] = state.requests
    assert req["path"] == "/v1/chat/completions"
    prompt = json.dumps(req["body"])
    assert "hematoxylin" in prompt and "JSON" in prompt and "corrected_text" in prompt
    assert req["body"]["model"] == "stand-in"


@pytest.mark.parametrize("content, reason", [
    ("Sure! Here is the corrected text: The hematoxylin...", "invalid JSON"),
    (json.dumps({"corrected_text": "x", "corrections": []}), "schema violation"),
    (json.dumps({**GOOD, "corrections": [{"from": "hepatoxylin", "to": "hematoxylin", "score": 3}]}),
     "schema violation"),
    (json.dumps({**GOOD, "corrections": [{"from": "never said", "to": "hematoxylin", "score": 0.5}]}),
     "schema violation"),
])
def test_bad_replies_fall_back(server: tuple[str, StandIn], lexicon: Lexicon, content: str, reason: str) -> None:
    url, state = server
    state.content = content
    sentences, backend = denoise_with(LlmDenoiser(url, "stand-in"), _segments(), lexicon)
    assert backend.startswith(f"{DENOISER_NAME} (fallback: {reason}")
    assert sentences[0].text == "The hematoxylin stains the nuclei blue."  # the lexicon corrector's work


def test_http_error_falls_back(server: tuple[str, StandIn], lexicon: Lexicon) -> None:
    url, state = server
    state.status = 500
    _, backend = denoise_with(LlmDenoiser(url, "stand-in"), _segments(), lexicon)
    assert backend == f"{DENOISER_NAME} (fallback: HTTP 500)"


def test_slow_server_times_out_and_falls_back(server: tuple[str, StandIn], lexicon: Lexicon) -> None:
    url, state = server
    state.delay_s = 3.0
    t0 = time.monotonic()
    sentences, backend = denoise_with(LlmDenoiser(url, "stand-in", timeout_s=0.5), _segments(), lexicon)
    assert time.monotonic() - t0 < 0.5 + 0.5
    assert "fallback: timeout" in backend
    assert sentences[0].text == "The hematoxylin stains the nuclei blue."


def test_server_down_falls_back(lexicon: Lexicon) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sentences, backend = denoise_with(LlmDenoiser(f"http://127.0.0.1:{port}", "m", timeout_s=2), _segments(), lexicon)
    assert backend.startswith(f"{DENOISER_NAME} (fallback:") and "refused" in backend.lower()
    assert sentences[0].medical


def test_no_backend_means_the_lexicon_corrector(lexicon: Lexicon) -> None:
    sentences, backend = denoise_with(None, _segments(), lexicon)
    assert backend == DENOISER_NAME and sentences[0].corrections == {"hepatoxylin": "hematoxylin"}


def test_validator_rejects_extra_keys() -> None:
    with pytest.raises(LlmReplyError):
        validate_reply({**GOOD, "note": "hi"}, ASR)
    assert validate_reply(GOOD, ASR) == GOOD
