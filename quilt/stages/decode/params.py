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
    # Camera motion (see motion.py): frames are compared after undoing their global shift
    # against the run's first frame, so a handheld camera or a live microscope feed that shakes
    # by a few pixels stays one chunk. The view may wander at most `max_offset` of the
    # thumbnail's longer side from where the run began (1.5 px on a 128 px thumbnail: 3.75 px at
    # 320x240, 15 px at 1280x720) before it counts as another field of view. The bound ends
    # the slowest pan the decoder must reject (0.6 % of the width a second, 2 px/s at 320x240)
    # within 2 s, short of a chunk, while a shake of +-0.5 % (+-5 px at 960x540) stays inside it.
    # A slower drift is one chunk until it passes the bound; then a new run begins there.
    max_offset: float = 0.012
    # A slow zoom (a lecturer turning the objective or the viewer's zoom) is undone as well, up to
    # this change of magnification from the run's first frame: the 0.4-1.2 %/s zooms of a drifting
    # view stay one chunk for 3 s or more, the 2 %/s and faster zooms the decoder must reject
    # (Quilt's "zoom is motion") pass it within 2.5 s. 0 turns zoom estimation off.
    max_zoom: float = 0.04
    # Count pieces of a view that crept on past those bounds (each too short to be a chunk) as one
    # run for `min_duration_s`: a slowly drifting view of one field is one chunk...
    chain_drift_pieces: bool = True
    # ...but only a slow drift: every piece before must have lasted this long before it left its
    # bounds (at 2 samples a second: 5 samples), i.e. the view moved under ~0.5 % of its side or
    # zoomed under ~1.6 % a second. The slowest pan the decoder must reject (0.6 %/s, Quilt's "a pan
    # is motion") and a 2 %/s zoom leave their bounds within 2 s; a slow drift across one field
    # (a lecturer easing the stage or the zoom) takes 2.5 s or more per piece.
    chain_min_piece_s: float = 2.25
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
