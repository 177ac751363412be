"""One benchmark run in its own process: `python -m quilt.evaluation.bench.runner METHOD FILE [--cores N]`.

Each method runs in a fresh interpreter so its peak RSS (VmHWM) is its own, not the maximum
of everything the parent ran before. Prints one JSON line with the measurements.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

METHODS = ("ours", "full_decode", "quilt")
# (video seconds, frames decoded, chunks or None, audio samples)
_Measured = tuple[float, int, int | None, int]


@dataclass
class RunResult:
    method: str
    wall_s: float
    duration_s: float
    frames_decoded: int
    chunks: int | None  # None: the method finds no chunks (plain decode)
    peak_rss_mib: float
    audio_samples: int = 0


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM); ru_maxrss where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ours() -> Callable[[Path], _Measured]:
    from quilt.stages.decode import keyframes as decode

    params = decode.DecodeParams()
    if not hasattr(decode, "decode_frames"):  # older decoder: one call, audio held in memory
        def whole(path: Path) -> _Measured:
            video = decode.decode_video(path, params)
            return video.duration_s, 0, len(video.chunks), int(video.audio.size)
        return whole

    def streaming(path: Path) -> _Measured:
        frames = decode.decode_frames(path, params)
        samples = 0
        if frames.has_audio:
            # Consume the stream as the ASR service would, so audio decoding is part of the cost.
            for window in decode.iter_audio(path, rate=params.audio_rate):
                samples += int(window.samples.size)
        return frames.duration_s, frames.frames_decoded, len(frames.chunks), samples
    return streaming


def _full_decode() -> Callable[[Path], _Measured]:
    from quilt.evaluation.bench.full_decode import full_decode

    def run(path: Path) -> _Measured:
        result = full_decode(path)
        return result.duration_s, result.frames_decoded, None, 0
    return run


def _quilt() -> Callable[[Path], _Measured]:
    from quilt.evaluation.bench.quilt_reference import reference_chunks

    def run(path: Path) -> _Measured:
        result = reference_chunks(path)
        return result.duration_s, result.frames_decoded, len(result.chunks), 0
    return run


_LOADERS = {"ours": _ours, "full_decode": _full_decode, "quilt": _quilt}


def run_method(method: str, path: Path) -> RunResult:
    """Run one method in this process and measure it; imports happen before the clock starts."""
    if method not in _LOADERS:
        raise ValueError(f"unknown method {method!r}")
    run = _LOADERS[method]()
    began = time.perf_counter()
    duration, decoded, chunks, samples = run(Path(path))
    wall = time.perf_counter() - began
    return RunResult(method, wall, duration, decoded, chunks, peak_rss_mib(), samples)


def pin_cores(cores: int) -> None:
    """Restrict this process to cores 0..cores-1; FFmpeg's and OpenCV's automatic thread counts follow."""
    available = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, set(available[:max(1, cores)]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("method", choices=METHODS)
    parser.add_argument("file", type=Path)
    parser.add_argument("--cores", type=int, default=0, help="pin to this many cores (0: all)")
    args = parser.parse_args(argv)
    if args.cores:
        pin_cores(args.cores)
    print(json.dumps(asdict(run_method(args.method, args.file))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
