"""One field lecture's plan, drawn from its seed: format, theme, voice, and segments with their nuisances."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from quilt.testing.field_lectures import designs, scenes
from quilt.testing.field_lectures.narration import (
    ASIDES,
    AUDIO_RATE,
    CLOSINGS,
    OPENINGS,
    TOPICS,
    Said,
    Topic,
    Voice,
    say,
    split_lines,
    voice_for,
)
from quilt.testing.field_lectures.tissue import tissue_field

# Disjoint from each other and from the tuning generator's seeds (10_000-19_999 and 50_000-59_999).
SPLIT_SEEDS = {"tuning": range(70_000, 80_000), "heldout": range(90_000, 100_000)}
# How a histology segment is shown: kinds the tuning generator never draws.
HISTOLOGY_NUISANCES = ("shake", "zoom_pan", "framed", "two_panel", "webcam", "letterbox")
# Frame size and rate per lecture: 720p at 30 fps mostly, other sizes and rates besides.
FORMATS = (((1280, 720), 30), ((1280, 720), 30), ((960, 540), 30), ((1024, 576), 25))
MIN_STILL_S = 4.5
MIN_MOVING_S = 5.5  # shaking and drifting views get a little longer: their stability is what is measured


@dataclass
class Part:
    """A segment of the lecture: what it shows, how, and what is said over it."""

    kind: str  # histology | ihc | text | chart | presenter
    nuisance: str  # one of HISTOLOGY_NUISANCES for histology; title, bullets, chart, presenter otherwise
    said: Said
    seed: int
    seconds: float = 0.0
    speech_at: float = 0.0  # seconds into the segment where the narration starts
    speech: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    boxes: list[designs.Box] = field(default_factory=list)  # where micrographs sit in the frame

    @property
    def histology(self) -> bool:
        return self.kind in ("histology", "ihc")

    @property
    def still(self) -> bool:
        """Should give exactly one key frame: everything but the presenter's own camera."""
        return self.kind != "presenter"


@dataclass
class Plan:
    split: str
    seed: int
    topic: Topic
    theme: designs.Theme
    size: tuple[int, int]
    fps: int
    voice: Voice
    parts: list[Part]

    @property
    def duration_s(self) -> float:
        return round(sum(p.seconds for p in self.parts), 3)


def _pop(rng: np.random.Generator, lines: list[Said]) -> Said:
    return lines.pop(int(rng.integers(0, len(lines))))


def lecture_plan(split: str, seed: int, size: tuple[int, int] | None = None, fps: int | None = None) -> Plan:
    """Every choice of a lecture comes from `seed`; `size`/`fps` override the drawn format (for small tests)."""
    if seed not in SPLIT_SEEDS[split]:
        raise ValueError(f"seed {seed} is not a {split} seed of the field lectures")
    rng = np.random.default_rng(seed)
    topic = TOPICS[int(rng.integers(0, len(TOPICS)))]
    theme = designs.THEMES[int(rng.integers(0, len(designs.THEMES)))]
    drawn_size, drawn_fps = FORMATS[int(rng.integers(0, len(FORMATS)))]
    voice = voice_for(rng)
    he, ihc = split_lines(topic.he, split), split_lines(topic.ihc, split)
    parts = [Part("text", "title", _pop(rng, split_lines(OPENINGS, split)), seed * 10)]
    if rng.random() < 0.5:
        parts.append(Part("text", "bullets", topic.overview, seed * 10 + 1))
    nuisances = [str(n) for n in rng.permutation(HISTOLOGY_NUISANCES)[:4]]
    aside_at = int(rng.integers(1, len(nuisances)))
    for k, nuisance in enumerate(nuisances):
        if k == aside_at:
            kind = "presenter" if rng.random() < 0.5 else "chart"
            parts.append(Part(kind, kind, _pop(rng, split_lines(ASIDES, split)), seed * 10 + 2))
        kind = "ihc" if ihc and rng.random() < 0.35 else "histology"
        said = _pop(rng, ihc if kind == "ihc" else he)
        parts.append(Part(kind, nuisance, said, seed * 10 + 3 + k))
    parts.append(Part("text", "closing", _pop(rng, split_lines(CLOSINGS, split)), seed * 10 + 8))
    for part in parts:
        part.speech = say(part.said.text, voice)
        part.speech_at = round(float(rng.uniform(0.4, 0.9)), 2)
        needed = part.speech_at + part.speech.size / AUDIO_RATE + float(rng.uniform(0.6, 1.0))
        floor = MIN_MOVING_S if part.nuisance in ("shake", "zoom_pan") else MIN_STILL_S
        part.seconds = round(max(floor, needed), 1)
    return Plan(split, seed, topic, theme, size or drawn_size, fps or drawn_fps, voice, parts)


def scene_for(part: Part, plan: Plan, page: int) -> scenes.Scene:
    """The frames of one part; fills `part.boxes` with where its micrographs sit."""
    rng = np.random.default_rng(part.seed + 77)
    size, theme, topic = plan.size, plan.theme, plan.topic
    width, height = size
    caption = topic.captions[int(rng.integers(0, len(topic.captions)))]
    whole: designs.Box = (0, 0, width, height)
    if part.nuisance == "title":
        return scenes.StillScene(designs.title_slide(theme, size, topic.title, "Teaching session"))
    if part.nuisance == "closing":
        return scenes.StillScene(designs.title_slide(theme, size, "Thank you", "Questions welcome"))
    if part.nuisance == "bullets":
        return scenes.StillScene(designs.bullet_slide(theme, size, "Overview", topic.bullets, page))
    if part.nuisance == "chart":
        return scenes.StillScene(designs.chart_slide(theme, size, "Cases per year", part.seed, page))
    if part.nuisance == "presenter":
        return scenes.PresenterScene(size, part.seed)
    if part.nuisance == "shake":
        amplitude = int(rng.integers(2, 6))
        part.boxes = [whole]
        field_ = tissue_field(part.kind, part.seed, (width + 2 * amplitude, height + 2 * amplitude))
        return scenes.ShakeScene(field_, size, amplitude, part.seed)
    if part.nuisance == "zoom_pan":
        part.boxes = [whole]
        field_ = tissue_field(part.kind, part.seed, (int(width * 1.3), int(height * 1.3)))
        angle = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(2.0, 6.0)
        return scenes.DriftScene(field_, size, float(rng.uniform(0.004, 0.012)),
                                 (float(speed * np.cos(angle)), float(speed * np.sin(angle))))
    if part.nuisance == "framed":
        picture, part.boxes = designs.framed_slide(theme, size, part.kind, part.seed, topic.title, caption, page)
        return scenes.StillScene(picture)
    if part.nuisance == "two_panel":
        other = "histology" if rng.random() < 0.6 else part.kind
        picture, part.boxes = designs.two_panel_slide(theme, size, (part.kind, other), (part.seed, part.seed + 5),
                                                      topic.title, caption, page)
        return scenes.StillScene(picture)
    if part.nuisance == "letterbox":
        aspect = float(rng.choice([2.35, 2.0, 4 / 3]))  # cinema bars, or pillarbox for a 4:3 capture
        picture, box = designs.letterboxed(tissue_field(part.kind, part.seed, size), size, aspect)
        part.boxes = [box]
        return scenes.StillScene(picture)
    if part.nuisance == "webcam":
        cam_w = int(width * rng.uniform(0.18, 0.26)) // 2 * 2
        cam_h = int(cam_w * 0.75) // 2 * 2
        margin = int(width * 0.02)
        x0 = margin if rng.random() < 0.5 else width - cam_w - margin
        y0 = margin if rng.random() < 0.5 else height - cam_h - margin
        part.boxes = [whole]
        return scenes.WebcamScene(tissue_field(part.kind, part.seed, size), (x0, y0, x0 + cam_w, y0 + cam_h),
                                  part.seed)
    raise ValueError(f"unknown nuisance {part.nuisance!r}")
