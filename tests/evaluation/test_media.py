"""Sanity checks for the synthetic test media (speech, slides, lecture CLI)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from quilt.testing import lecture as lecture_mod
from quilt.testing import speech
from quilt.testing.slides import histology_slide, ihc_slide, photo_slide, text_slide


def test_speech_is_16k_float_and_not_silent() -> None:
    audio = speech.speak("Hematoxylin and eosin.")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.5 * 16000 < audio.size < 5 * 16000
    assert np.sqrt(np.mean(audio**2)) > 0.02
    assert np.abs(audio).max() <= 1.0
    slower = speech.speak("Hematoxylin and eosin.", rate_wpm=100)
    assert slower.size > audio.size


def test_speech_without_espeak_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from quilt.evaluation.bench import espeak

    monkeypatch.setattr(espeak.shutil, "which", lambda _name: None)
    with pytest.raises(RuntimeError, match="espeak-ng"):
        speech.speak("hello")


def test_resample_keeps_duration() -> None:
    tone = np.sin(np.linspace(0, 100, 22050)).astype(np.float32)
    out = speech.resample(tone, 22050, 16000)
    assert out.size == 16000 and out.dtype == np.float32


@pytest.mark.parametrize("make", [lambda: histology_slide(1), lambda: ihc_slide(2), photo_slide,
                                  lambda: text_slide("Title", ["a line"])])
def test_slides_are_rgb_uint8(make: Callable[[], np.ndarray]) -> None:
    image = make()
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    assert image.std() > 5  # not a blank frame


def test_histology_slide_is_pink_purple_and_seeded() -> None:
    image = histology_slide(7).astype(float)
    r, g, b = image[..., 0].mean(), image[..., 1].mean(), image[..., 2].mean()
    assert r > g and b > g  # H&E: little green
    assert np.array_equal(histology_slide(7), histology_slide(7))
    assert not np.array_equal(histology_slide(7), histology_slide(8))
    assert histology_slide(1, size=(100, 60)).shape == (60, 100, 3)


def test_default_script_fits_its_narration() -> None:
    script = lecture_mod.default_script()
    assert 35 <= sum(s.seconds for s in script) <= 50
    assert all(s.seconds >= 5 for s in script)
    kinds = [s.kind for s in script]
    assert "photo" in kinds and kinds[0] == "text" and kinds[-1] == "text"
    assert sum(k in ("histology", "ihc") for k in kinds) >= 2
    for spec in script:
        room = spec.seconds - lecture_mod.NARRATION_DELAY_S - lecture_mod.NARRATION_TAIL_S
        assert speech.speak(spec.narration).size / 16000 <= room, spec.narration


def test_cli_writes_numbered_lectures(tmp_path: Path) -> None:
    assert lecture_mod.main(["--out", str(tmp_path), "--count", "2", "--seconds-scale", "0.1"]) == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["lecture-01.mp4", "lecture-02.mp4"]
    with av.open(str(tmp_path / "lecture-01.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
        assert container.duration is not None
        assert container.duration / av.time_base == pytest.approx(30.0, abs=0.3)  # 6 slides x 5 s minimum
    assert (tmp_path / "lecture-01.mp4").read_bytes() != (tmp_path / "lecture-02.mp4").read_bytes()
