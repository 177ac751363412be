"""Generate narrated lecture videos with known slide boundaries (ground truth for tests and demos).

    python -m quilt.testing.lecture --out DIR [--count N] [--seconds-scale X]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from quilt.testing import motion
from quilt.testing import slides as slide_images
from quilt.testing.speech import SAMPLE_RATE, speak

NARRATION_DELAY_S = 0.3  # narration starts this long after its slide appears, like a real speaker
NARRATION_TAIL_S = 0.2  # silence kept before the next slide so speech never crosses a boundary


@dataclass
class SlideSpec:
    kind: str  # "histology" | "ihc" | "text" | "photo"
    seconds: float
    narration: str
    seed: int = 0
    title: str = ""  # text slides only
    lines: tuple[str, ...] = ()  # text slides only
    pointer: bool = False  # draw a small moving mouse pointer over this slide
    # "still" | "pan" (crop window sliding over a large H&E image, `motion_rate` px/s) |
    # "zoom" (field shrinking by `motion_rate` %/s). Kind "presenter" is a live camera on a person.
    motion: str = "still"
    motion_rate: float = 15.0
    fade_in_s: float = 0.0  # cross-fade from the previous segment's last frame over this many seconds
    annotation: bool = False  # a red arrow/circle appears 40% into the slide and stays

    @property
    def is_still(self) -> bool:
        return self.motion == "still" and self.kind != "presenter"

    def identity(self) -> tuple[object, ...]:
        """Specs with equal identities render the same picture (a slide shown again)."""
        if self.kind == "photo":  # one fixed picture, whatever the seed
            return ("photo", self.annotation)
        return (self.kind, self.seed, self.title, self.lines, self.annotation)


@dataclass
class TruthSegment:
    t_start: float
    t_end: float
    kind: str  # slide kind for stills, else "pan" | "zoom" | "fade" | "presenter"
    still: bool  # a still picture: must yield exactly one key frame when >= 3 s
    repeat_of: int | None = None  # index (in LectureTruth.segments) of the earlier showing of this slide

    def as_tuple(self) -> tuple[float, float, str, bool, int | None]:
        return (self.t_start, self.t_end, self.kind, self.still, self.repeat_of)


@dataclass
class LectureTruth:
    slides: list[tuple[float, float, str, str]] = field(default_factory=list)  # (t_start, t_end, kind, text)
    duration_s: float = 0.0
    segments: list[TruthSegment] = field(default_factory=list)  # finer: fades split off their slide

    def eval_segments(self) -> list[tuple[float, float, str, bool, int | None]]:
        """The segments in the form quilt.evaluation.keyframes.evaluate takes."""
        return [s.as_tuple() for s in self.segments]


def truth_segments(slides: list[SlideSpec], starts: list[float]) -> list[TruthSegment]:
    out: list[TruthSegment] = []
    first_showing: dict[tuple[object, ...], int] = {}
    for spec, start in zip(slides, starts, strict=True):
        end = start + spec.seconds
        body = start
        if spec.fade_in_s > 0 and out:
            body = start + min(spec.fade_in_s, spec.seconds)
            out.append(TruthSegment(start, body, "fade", False))
        kind = spec.kind if spec.is_still else (spec.motion if spec.kind != "presenter" else "presenter")
        repeat = first_showing.get(spec.identity()) if spec.is_still else None
        if spec.is_still and repeat is None:
            first_showing[spec.identity()] = len(out)
        out.append(TruthSegment(body, end, kind, spec.is_still, repeat))
    return out


def render_slide(spec: SlideSpec, size: tuple[int, int]) -> np.ndarray:
    if spec.kind == "histology":
        return slide_images.histology_slide(spec.seed, size)
    if spec.kind == "ihc":
        return slide_images.ihc_slide(spec.seed, size)
    if spec.kind == "photo":
        return slide_images.photo_slide(size)
    if spec.kind == "text":
        return slide_images.text_slide(spec.title or "Lecture", list(spec.lines), size)
    if spec.kind == "presenter":
        return next(motion.presenter_frames(spec.seed, size, 1, 10))
    raise ValueError(f"unknown slide kind {spec.kind!r}")


def spec_frames(spec: SlideSpec, size: tuple[int, int], n_frames: int, fps: int) -> Iterator[np.ndarray]:
    """The frames of one segment, before any cross-fade from its predecessor."""
    if spec.kind == "presenter":
        yield from motion.presenter_frames(spec.seed, size, n_frames, fps)
        return
    if spec.motion == "pan":
        yield from motion.pan_frames(spec.kind, spec.seed, size, n_frames, fps, spec.motion_rate)
        return
    if spec.motion == "zoom":
        yield from motion.zoom_frames(spec.kind, spec.seed, size, n_frames, fps, spec.motion_rate)
        return
    if spec.motion != "still":
        raise ValueError(f"unknown motion {spec.motion!r}")
    base = render_slide(spec, size)
    marked = motion.draw_annotation(base, spec.seed) if spec.annotation else base
    pointer = _pointer_path(n_frames, size, spec.seed) if spec.pointer else iter([None] * n_frames)
    for i, pos in enumerate(pointer):
        image = marked if spec.annotation and i >= int(0.4 * n_frames) else base
        yield image if pos is None else _draw_pointer(image, *pos)


def _draw_pointer(image: np.ndarray, x: int, y: int) -> np.ndarray:
    """A 5x5 black arrow-ish mark with a white rim, about the size of a cursor at 320x240."""
    out = image.copy()
    h, w = out.shape[:2]
    for dy in range(6):
        for dx in range(6 - dy):
            yy, xx = y + dy, x + dx
            if 0 <= yy < h and 0 <= xx < w:
                rim = dx == 0 or dy == 0 or dx + dy == 5
                out[yy, xx] = 255 if rim else 0
    return out


def _pointer_path(n_frames: int, size: tuple[int, int], seed: int) -> Iterator[tuple[int, int] | None]:
    """Pointer shown in the middle half of the slide, drifting a few pixels a frame like a lecturer's."""
    rng = np.random.default_rng(seed + 1000)
    x, y = float(rng.uniform(0.3, 0.6) * size[0]), float(rng.uniform(0.3, 0.6) * size[1])
    for i in range(n_frames):
        if n_frames // 4 <= i < 3 * n_frames // 4:
            x = float(np.clip(x + rng.normal(2.0, 1.5), 0, size[0] - 6))
            y = float(np.clip(y + rng.normal(0.5, 1.5), 0, size[1] - 6))
            yield int(x), int(y)
        else:
            yield None


def _audio_track(slides: list[SlideSpec], starts: list[float], total_s: float) -> np.ndarray:
    track = np.zeros(int(round(total_s * SAMPLE_RATE)), dtype=np.float32)
    for spec, start in zip(slides, starts, strict=True):
        speech = speak(spec.narration) if spec.narration else np.zeros(0, dtype=np.float32)
        begin = int(round((start + NARRATION_DELAY_S) * SAMPLE_RATE))
        room = int((spec.seconds - NARRATION_DELAY_S - NARRATION_TAIL_S) * SAMPLE_RATE)
        speech = speech[: max(room, 0)]  # truncate rather than bleed into the next slide
        track[begin:begin + speech.size] = speech[: track.size - begin]
    return track


def _write_audio(container: av.container.OutputContainer, stream: av.audio.stream.AudioStream,
                 audio: np.ndarray) -> None:
    block = 1024  # AAC frame size
    for i in range(0, audio.size, block):
        chunk = np.ascontiguousarray(audio[i:i + block][None, :])
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = i
        frame.time_base = Fraction(1, SAMPLE_RATE)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def make_lecture(path: Path, slides: list[SlideSpec], size: tuple[int, int] = (320, 240), fps: int = 10,
                 with_audio: bool = True, rotation: int = 0, faststart: bool = False,
                 preset: str = "ultrafast", interlaced: bool = False) -> LectureTruth:
    """Write an H.264 (+AAC) MP4 showing each slide for its seconds; returns the true slide spans.

    `rotation` sets display-matrix rotation (degrees counter-clockwise, like phone videos);
    `faststart` puts the MP4 index first, as web uploads do; `preset` is libx264's (anything
    but "ultrafast" emits B-frames, like most uploads); `interlaced` encodes interlaced
    (top field first), like broadcast captures.
    """
    starts: list[float] = []
    t = 0.0
    for spec in slides:
        starts.append(t)
        t += spec.seconds
    total_s = t
    spans = [(s, s + sp.seconds, sp.kind, sp.narration) for s, sp in zip(starts, slides, strict=True)]
    truth = LectureTruth(spans, total_s, truth_segments(slides, starts))
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        vstream = container.add_stream("libx264", rate=fps)
        vstream.width, vstream.height = size
        # 4:2:0 needs even sides; odd-sized test videos fall back to 4:4:4.
        vstream.pix_fmt = "yuv420p" if size[0] % 2 == 0 and size[1] % 2 == 0 else "yuv444p"
        # ultrafast keeps generation quick on 2 cores; crf 23 is a typical upload quality.
        options_264 = {"preset": preset, "crf": "23"}
        if interlaced:
            options_264["x264-params"] = "interlaced=1:tff=1"
        vstream.codec_context.options = options_264
        if rotation:
            vstream.set_display_rotation(rotation)
        astream = None
        if with_audio:
            astream = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        frame_index = 0
        previous: np.ndarray | None = None
        for spec, start in zip(slides, starts, strict=True):
            first = int(round(start * fps))
            n_frames = int(round((start + spec.seconds) * fps)) - first
            fade_frames = int(round(spec.fade_in_s * fps)) if previous is not None else 0
            last = previous
            for i, image in enumerate(spec_frames(spec, size, n_frames, fps)):
                last = image
                if i < fade_frames and previous is not None:
                    image = motion.blend(previous, image, (i + 1) / (fade_frames + 1))
                vframe = av.VideoFrame.from_ndarray(image, format="rgb24")
                vframe.pts = frame_index
                frame_index += 1
                container.mux(vstream.encode(vframe))
            previous = last
        container.mux(vstream.encode(None))
        if astream is not None:
            _write_audio(container, astream, _audio_track(slides, starts, total_s))
    return truth


def make_audio_only(path: Path, text: str, seconds: float | None = None) -> float:
    """An AAC audio file (e.g. .m4a) with the spoken text; returns its intended duration in seconds."""
    speech = speak(text)
    if seconds is not None:
        padded = np.zeros(int(round(seconds * SAMPLE_RATE)), dtype=np.float32)
        padded[: min(speech.size, padded.size)] = speech[: padded.size]
        speech = padded
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        _write_audio(container, stream, speech)
    return speech.size / SAMPLE_RATE


def make_corrupt(path: Path, kind: str = "truncated") -> None:
    """A broken input: "truncated" (an MP4 cut short, its index lost), "truncated_faststart"
    (index first, so only half the frames are missing) or "garbage" (random bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 64 * 1024, dtype=np.uint8).tobytes())
        return
    if kind not in ("truncated", "truncated_faststart"):
        raise ValueError(f"unknown corruption kind {kind!r}")
    faststart = kind == "truncated_faststart"
    make_lecture(path, [SlideSpec("histology", 5.0, "", seed=1), SlideSpec("ihc", 5.0, "", seed=2)],
                 with_audio=False, faststart=faststart)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 5])  # without faststart the index (moov, at the end) is gone


def default_script(seed: int = 0, seconds_scale: float = 1.0) -> list[SlideSpec]:
    """A ~40 s lecture: chatter, histology with hard medical words, presenter photo, outro."""
    rng = np.random.default_rng(seed)
    tissue = ["histology", "ihc", "histology"]
    if seed % 2:
        tissue = ["ihc", "histology", "histology"]
    seeds = [int(s) for s in rng.integers(0, 10_000, 3)]

    def secs(base: float) -> float:
        return max(5.0, base * seconds_scale)

    return [
        SlideSpec("text", secs(6.0), "Welcome back to the channel, please like and subscribe.",
                  title="Liver Pathology", lines=("Normal liver", "Cholestasis", "Necrosis")),
        SlideSpec(tissue[0], secs(8.0),
                  "This is a hematoxylin and eosin stain of the liver. "
                  "Note the hepatocytes around the bile duct.",
                  seed=seeds[0], pointer=True),
        SlideSpec(tissue[1], secs(8.0),
                  "Here the stain highlights the glandular epithelium, with lymphocytes in the stroma.",
                  seed=seeds[1]),
        SlideSpec(tissue[2], secs(7.0), "There is coagulative necrosis with scattered lymphocytes.",
                  seed=seeds[2], pointer=True),
        SlideSpec("photo", secs(5.0), "That's me at the conference last year."),
        SlideSpec("text", secs(6.0), "Thanks for watching, see you next time.",
                  title="Thank you", lines=("Questions?",)),
    ]


def _size(text: str) -> tuple[int, int]:
    """Parse "WxH" for --size."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, e.g. 854x480, got {text!r}") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"frame size too small: {text!r}")
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write sample narrated histopathology lectures.")
    parser.add_argument("--out", type=Path, required=True, help="directory for lecture-NN.mp4")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--seconds-scale", type=float, default=1.0, help="stretch every slide (min 5 s)")
    parser.add_argument("--parts", type=int, default=1,
                        help="chain this many 40 s scripts (different seeds) into one lecture, "
                             "keeping the narration as dense as a short one")
    parser.add_argument("--size", type=_size, default=(320, 240), metavar="WxH",
                        help="frame size (default 320x240; 854x480 for 480p benchmarks)")
    parser.add_argument("--fps", type=int, default=10, help="frame rate (default 10)")
    args = parser.parse_args(argv)
    for i in range(1, args.count + 1):
        out = args.out / f"lecture-{i:02d}.mp4"
        tmp = out.with_name(out.name + ".part.mp4")
        script = [slide for part in range(args.parts)
                  for slide in default_script(seed=i * 100 + part, seconds_scale=args.seconds_scale)]
        truth = make_lecture(tmp, script, size=args.size, fps=args.fps)
        os.replace(tmp, out)  # never leave a half-written sample where the demo would pick it up
        print(f"{out} {truth.duration_s:.1f}s {len(truth.slides)} slides")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
