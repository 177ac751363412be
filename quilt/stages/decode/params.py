"""Tunable knobs of the frame decoder, in their own module so the helpers need not import decode.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DecodeParams:
    sample_fps: float = 2.0  # frames examined per second
    # Longer side of the grey thumbnail used for the stability test (the other side keeps the
    # aspect). 128 rather than Quilt's tiny thumbnails: SSIM's 7 px window then spreads a
    # mouse pointer over ~1% of the map instead of ~3%, and a slow pan moves whole pixels.
    thumb_size: int = 128
    # Quilt's consecutive-frame threshold, applied to a *robust* SSIM (see stability.robust_ssim).
    ssim_threshold: float = 0.98
    # Consecutive frames of a slow pan/zoom each pass 0.98; comparing with the run's first frame
    # catches the accumulated drift. Stills stay > 0.97 against their anchor even with codec
    # noise, a wandering pointer and a new annotation; 8 px/s pans fall below within ~1 s.
    anchor_threshold: float = 0.93
    # ...and the share of changed windows not explained by a few compact marks (pointer,
    # annotation; see stability.compare). Generated stills stay < 0.5%; a text slide panning
    # 4 px/s or zooming 1.5 %/s passes 2% within ~1.5 s.
    anchor_max_changed: float = 0.02
    # The same between consecutive samples: one sparse text slide replacing another changes
    # only ~4% of the windows, spread over several lines, while its trimmed SSIM stays > 0.99.
    step_max_changed: float = 0.01
    # Fraction of the SSIM map (worst windows first) ignored: a pointer or a small arrow/circle
    # covers well under this, a pan, zoom, fade or cut changes far more of the picture.
    trim_fraction: float = 0.06
    min_duration_s: float = 3.0
    # Five evenly spaced frames already outvote a pointer or an annotation seen in two of
    # them; each extra frame costs more than it removes (the median is a sorting network).
    max_median_frames: int = 5
    audio_rate: int = 16000
    # Skip non-reference frames when the stream still has this many frames per sampling step.
    skip_nonref_min_ratio: float = 4.0
    # Same slide shown twice: phash Hamming distance and thumbnail SSIM that make two chunks one.
    dedup_max_hamming: int = 6
    dedup_min_ssim: float = 0.9
