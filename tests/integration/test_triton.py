"""The models served by tritonserver agree with the in-process stages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from quilt.core.types import StageError
from quilt.stack.ports import free_port
from quilt.stack.triton import start_triton, stop_triton
from quilt.stages.asr.whisper import FasterWhisperTranscriber, ModelUnavailable, TritonTranscriber, prepare_audio
from quilt.stages.histo.scorers import HISTO_MODEL_NAME, LocalHistoScorer, TritonHistoScorer
from tests.stages.asr.test_asr_local import SENTENCE, espeak_audio
from tests.stages.histo.test_histo import synthetic_he, text_slide

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def triton_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work: Path = tmp_path_factory.mktemp("triton")
    grpc_port, http_port, metrics_port = free_port(), free_port(), free_port()
    proc = start_triton(work, grpc_port, http_port, metrics_port, log_file=work / "tritonserver.log",
                        ready_timeout_s=120)
    try:
        yield f"127.0.0.1:{grpc_port}"
    finally:
        stop_triton(proc)


@pytest.fixture(scope="module")
def lecture_audio(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """About 20 s of speech at 16 kHz."""
    out = tmp_path_factory.mktemp("audio")
    raw, rate = espeak_audio(" ".join([SENTENCE, "Portal triads contain a bile duct, a portal vein and a "
                                                 "hepatic artery.", SENTENCE]), out)
    return prepare_audio(raw, rate)


def test_whisper_matches_in_process(triton_url: str, lecture_audio: np.ndarray) -> None:
    local = FasterWhisperTranscriber(beam_size=1, cpu_threads=2).transcribe(lecture_audio)
    remote_client = TritonTranscriber(triton_url)
    remote = remote_client.transcribe(lecture_audio)
    assert remote_client.name == "faster-whisper/tiny.en"
    assert [s.text for s in remote] == [s.text for s in local]
    assert remote == local  # times and word probabilities too (both rounded the same way)


def test_whisper_per_request_options_match_in_process(triton_url: str, lecture_audio: np.ndarray) -> None:
    # "" turns the default vocabulary prompt off; vad_filter and beam_size travel in OPTIONS_JSON.
    clip = np.concatenate([np.zeros(16000 * 3, np.float32), lecture_audio[: 16000 * 6]])
    local = FasterWhisperTranscriber(beam_size=1, cpu_threads=2)
    remote = TritonTranscriber(triton_url)
    for options in ({"initial_prompt": ""}, {"vad_filter": True}, {"beam_size": 2, "initial_prompt": "Giemsa."}):
        assert remote.transcribe(clip, **options) == local.transcribe(clip, **options), options


def test_whisper_options_and_empty(triton_url: str, lecture_audio: np.ndarray) -> None:
    client = TritonTranscriber(triton_url)
    assert client.transcribe(np.zeros(0, np.float32)) == []
    prompt = "Histology: hematoxylin and eosin, hepatocytes, bile duct."
    text = " ".join(s.text for s in client.transcribe(lecture_audio[: 16000 * 6], initial_prompt=prompt))
    assert "hematoxylin" in text.lower()
    with pytest.raises(StageError):
        client.transcribe(np.array([np.nan], np.float32))


def test_histo_matches_in_process(triton_url: str) -> None:
    images = [synthetic_he(0), synthetic_he(3), text_slide(), data.astronaut(),
              data.immunohistochemistry()[100:400, 100:500], np.stack([data.camera()] * 3, axis=-1)]
    remote = TritonHistoScorer(triton_url)
    assert remote.name == HISTO_MODEL_NAME
    np.testing.assert_allclose(remote.score(images), LocalHistoScorer().score(images), atol=1e-5)


def test_unreachable_server_is_retryable() -> None:
    url = f"127.0.0.1:{free_port()}"
    with pytest.raises(ModelUnavailable):
        TritonTranscriber(url, timeout_s=5).transcribe(np.zeros(1600, np.float32))
    with pytest.raises(ModelUnavailable):
        TritonHistoScorer(url, timeout_s=5).score([synthetic_he(0)])
