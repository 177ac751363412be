"""The gallery page: a filter bar over cards, one card per image with every text said about it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from urllib.parse import urlencode

from quilt.core.records import MAGNIFICATIONS, PairRecord
from quilt.gallery.assets import CONTENT_SECURITY_POLICY, SCRIPT, STYLE
from quilt.gallery.markup import (
    CLEAN_TAG,
    ENTITY_CATEGORIES,
    IMPURITY_LABELS,
    MAG_PREFIX,
    clock,
    esc,
    filter_tags,
    heard_differs,
    marked_heard,
    marked_text,
    score_bar,
    tag_label,
    tags_attribute,
)

Item = tuple[PairRecord, str]  # a pair and the src of its image on the page
Group = Sequence[Item]  # the pairs of one image, in the order they were said


def _pair(record: PairRecord) -> str:
    heard = (f'<p class="heard"><span class="heard-label">heard</span>{marked_heard(record)}</p>'
             if heard_differs(record) else "")
    video = esc(record.video_id)
    video_href = esc("?" + urlencode({"video": record.video_id}))
    return (f'<li class="pair" data-pair-id="{esc(record.pair_id)}" data-video="{video}" '
            f'data-tags="{tags_attribute(record)}">'
            f'<p class="text">{marked_text(record)}</p>{heard}'
            f'<div class="pair-meta"><a class="video-link" href="{video_href}" data-video="{video}" '
            f'title="show only video {video}">{video}</a>'
            f'<span class="time">{clock(record.t_start)}–{clock(record.t_end)}</span>'
            f'{score_bar("align", record.align_score, "align")}</div></li>')


def _crop_attribute(record: PairRecord) -> str:
    crop = record.crop if isinstance(record.crop, list) else []
    try:
        numbers = [int(v) for v in crop]
    except (TypeError, ValueError):
        return ""
    return f' data-crop="{",".join(map(str, numbers))}"' if len(numbers) == 4 else ""


def _image_chips(records: Sequence[PairRecord]) -> str:
    impurities = list(dict.fromkeys(str(t) for r in records for t in r.impurity_tags))
    chips = [f'<span class="chip impure">{esc(IMPURITY_LABELS.get(t, t))}</span>' for t in impurities]
    chips = chips or [f'<span class="chip clean">{CLEAN_TAG}</span>']
    chips += [f'<span class="chip organ">{esc(s)}</span>' for s in records[0].sub_pathology]
    return f'<div class="chips">{"".join(chips)}</div>'


def card(group: Group) -> str:
    first, src = group[0]
    records = [record for record, _ in group]
    mag = str(first.magnification or "unknown")
    mag_css = mag if mag in MAGNIFICATIONS else "unknown"
    texts = f'<span class="badge texts">{len(group)} texts</span>' if len(group) > 1 else ""
    alt = f"key frame of {first.video_id} at {clock(first.t_start)}"
    return (f'<article class="group" data-image-id="{esc(first.image_id or first.pair_id)}">'
            f'<figure class="shot"{_crop_attribute(first)}><img src="{esc(src)}" alt="{esc(alt)}" loading="lazy">'
            f'<span class="crop-box" title="field of view" hidden></span>'
            f'<span class="badge mag mag-{mag_css}">{esc(mag)} mag</span>{texts}</figure>'
            f'<div class="card-body">{_image_chips(records)}'
            f'<div class="group-scores">{score_bar("histology", first.histo_score, "histo")}</div>'
            f'<ol class="pairs">{"".join(_pair(r) for r in records)}</ol></div></article>')


def _chip_button(tag: str, facet: str, count: int) -> str:
    return (f'<button type="button" class="filter-chip" data-facet="{facet}" data-tag="{esc(tag)}" '
            f'aria-pressed="false">{esc(tag_label(tag))}<span class="n">{count}</span></button>')


def _facets(records: Sequence[PairRecord]) -> str:
    counts = Counter(tag for record in records for tag in filter_tags(record))
    known = [CLEAN_TAG, *IMPURITY_LABELS]
    impurity = [t for t in known if t in counts] + sorted(
        t for r in records for t in set(map(str, r.impurity_tags)) if t not in known)
    mags = [MAG_PREFIX + m for m in MAGNIFICATIONS if MAG_PREFIX + m in counts]
    mags += sorted(t for t in counts if t.startswith(MAG_PREFIX) and t not in mags)
    organs = sorted({str(s) for r in records for s in r.sub_pathology}, key=lambda s: (-counts[s], s))
    rows = [("impurity", "frame", impurity), ("magnification", "magnification", mags),
            ("organ", "sub-pathology", organs)]
    return "".join(
        f'<div class="facet" data-facet="{facet}"><span class="facet-name">{name}</span>'
        f'{"".join(_chip_button(tag, facet, counts[tag]) for tag in dict.fromkeys(tags))}</div>'
        for facet, name, tags in rows if tags)


def _video_select(records: Sequence[PairRecord]) -> str:
    counts = Counter(record.video_id for record in records)
    options = "".join(f'<option value="{esc(video)}">{esc(video)} ({n})</option>' for video, n in counts.items())
    return (f'<label class="field">video <select id="video"><option value="">all videos ({len(records)})</option>'
            f'{options}</select></label>')


def _legend() -> str:
    entities = "".join(f'<span class="ent ent-{c}">{c}</span>' for c in ENTITY_CATEGORIES)
    return (f'<div class="legend"><mark class="fix">corrected</mark><span>(hover: what Whisper heard)</span>'
            f'{entities}</div>')


def page(groups: Sequence[Group], title: str, subtitle: str = "") -> str:
    records = [record for group in groups for record, _ in group]
    videos = len({record.video_id for record in records})
    summary = f"{len(records)} pairs · {len(groups)} images · {videos} videos, newest first"
    sub = f"{esc(subtitle)} · {summary}" if subtitle else summary
    noun = "pair" if len(records) == 1 else "pairs"
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CONTENT_SECURITY_POLICY}\">"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
            f"<header class='top'><div class='title-row'><h1>{esc(title)}</h1><span class='sub'>{sub}</span>"
            f"<span id='count' class='count' aria-live='polite'>{len(records)} {noun}</span></div>"
            f"<form class='filters' id='filters' role='search'>{_video_select(records)}"
            "<label class='field'>search <input id='q' type='search' placeholder='words in the text'></label>"
            f"<button type='button' id='reset'>reset filters</button>{_facets(records)}</form>{_legend()}</header>"
            f"<main class='grid'>{''.join(card(group) for group in groups)}</main>"
            "<p id='empty' class='empty' hidden>No pair matches these filters.</p>"
            "<dialog id='zoom'><img alt='enlarged key frame'></dialog>"
            f"<script>{SCRIPT}</script></body></html>")
