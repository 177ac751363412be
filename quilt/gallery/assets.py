"""The gallery's inline stylesheet and script: one self-contained page, no external resources."""

from __future__ import annotations

import base64
import hashlib

STYLE = """
:root { --ink: #1d2330; --muted: #6b7280; --paper: #f1efec; --card: #fff; --line: #e4e1dc;
  --night: #171b24; --accent: #2f6fde; --radius: 12px; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  background: var(--paper); color: var(--ink); }
header.top { background: var(--night); color: #e8eaf0; padding: 1rem 1.5rem .9rem; }
.title-row { display: flex; align-items: baseline; gap: .8rem; flex-wrap: wrap; }
h1 { font-size: 1.35rem; margin: 0; letter-spacing: .01em; }
.sub { color: #9aa3b5; font-size: .85rem; }
.count { margin-left: auto; font-weight: 600; font-size: 1rem; background: #2a3142; padding: .2rem .7rem;
  border-radius: 999px; font-variant-numeric: tabular-nums; }
.filters { display: flex; flex-wrap: wrap; gap: .55rem 1.4rem; margin-top: .8rem; align-items: center; }
.field { display: flex; align-items: center; gap: .45rem; font-size: .8rem; color: #9aa3b5;
  text-transform: uppercase; letter-spacing: .06em; }
.field select, .field input { font: inherit; font-size: .9rem; text-transform: none; letter-spacing: 0;
  background: #262c3a; color: #eef0f5; border: 1px solid #3a4256; border-radius: 8px; padding: .3rem .55rem; }
.field input { width: 14rem; }
.field select { max-width: 20rem; }
.facet { display: flex; flex-wrap: wrap; gap: .35rem; align-items: center; }
.facet-name { font-size: .72rem; color: #9aa3b5; text-transform: uppercase; letter-spacing: .06em;
  margin-right: .15rem; }
.filter-chip { font: inherit; font-size: .8rem; cursor: pointer; border-radius: 999px; padding: .18rem .65rem;
  background: transparent; color: #d4d9e4; border: 1px solid #475068; }
.filter-chip:hover { border-color: #8d97ad; }
.filter-chip .n { color: #8d97ad; font-size: .72rem; margin-left: .2rem; }
.filter-chip[aria-pressed="true"] { background: #e8eaf0; color: var(--night); border-color: #e8eaf0; }
.filter-chip[aria-pressed="true"] .n { color: #4b5468; }
#reset { font: inherit; font-size: .8rem; background: none; border: 0; color: #8fb4ff; cursor: pointer;
  text-decoration: underline; }
.legend { display: flex; gap: .9rem; margin-top: .7rem; font-size: .75rem; color: #9aa3b5; flex-wrap: wrap; }
.legend .ent { color: #e8eaf0; }
.legend mark.fix { color: var(--ink); }
main.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 1.1rem;
  padding: 1.2rem 1.5rem 2rem; align-items: start; }
.group { background: var(--card); border-radius: var(--radius); overflow: hidden;
  box-shadow: 0 1px 2px rgba(20, 24, 35, .06), 0 4px 14px rgba(20, 24, 35, .07); }
.shot { position: relative; margin: 0; aspect-ratio: 4 / 3; background: #12151b; cursor: zoom-in; overflow: hidden; }
.shot img { display: block; width: 100%; height: 100%; object-fit: contain; }
.crop-box { position: absolute; border: 2px dashed rgba(255, 255, 255, .85); border-radius: 3px;
  box-shadow: 0 0 0 9999px rgba(0, 0, 0, .18); pointer-events: none; }
.badge { position: absolute; top: .55rem; font-size: .72rem; font-weight: 600; padding: .15rem .55rem;
  border-radius: 999px; background: rgba(15, 18, 26, .72); color: #fff; backdrop-filter: blur(3px); }
.badge.mag { left: .55rem; }
.badge.mag::before { content: ""; display: inline-block; width: .5rem; height: .5rem; border-radius: 50%;
  margin-right: .35rem; background: #9aa3b5; }
.badge.mag-low::before { background: #74c0fc; } .badge.mag-medium::before { background: #ffd43b; }
.badge.mag-high::before { background: #ff8787; }
.badge.texts { right: .55rem; }
.card-body { padding: .7rem .85rem .8rem; }
.chips { display: flex; flex-wrap: wrap; gap: .3rem; margin-bottom: .5rem; }
.chip { font-size: .72rem; padding: .1rem .5rem; border-radius: 999px; font-weight: 600; }
.chip.impure { background: #fff1c2; color: #8a5300; }
.chip.clean { background: #d3f4dc; color: #23773a; }
.chip.organ { background: #e3efff; color: #1d4f9a; font-weight: 500; }
.score { display: inline-flex; align-items: center; gap: .35rem; font-size: .72rem; color: var(--muted);
  font-variant-numeric: tabular-nums; }
.score .bar { width: 3.6rem; height: .38rem; background: #e9e6e1; border-radius: 999px; overflow: hidden; }
.score .bar i { display: block; height: 100%; width: calc(var(--v) * 100%); border-radius: 999px;
  background: hsl(calc(var(--v) * 125) 62% 45%); }
.score-value { color: var(--ink); font-weight: 600; }
.pairs { list-style: none; margin: .35rem 0 0; padding: 0; }
.pair + .pair { border-top: 1px solid var(--line); }
.pair { padding: .5rem 0 .35rem; }
.text { margin: 0 0 .3rem; font-size: .95rem; }
mark.fix { background: #ffe066; color: inherit; border-radius: 3px; padding: 0 .15rem;
  box-shadow: inset 0 -2px 0 #f2b705; cursor: help; }
.ent { text-decoration: underline; text-decoration-thickness: 2px; text-underline-offset: 3px;
  text-decoration-skip-ink: none; text-decoration-color: #adb5bd; }
.ent-tissue { text-decoration-color: #c07a3a; } .ent-cell { text-decoration-color: #8a5cd0; }
.ent-finding { text-decoration-color: #e8590c; } .ent-stain { text-decoration-color: #e64980; }
.ent-marker { text-decoration-color: #12a5b8; } .ent-diagnosis { text-decoration-color: #d62f2f; }
.heard { margin: 0 0 .35rem; font-size: .8rem; color: var(--muted); }
.heard-label { font-size: .66rem; text-transform: uppercase; letter-spacing: .06em; margin-right: .35rem;
  background: #f1efec; padding: .05rem .35rem; border-radius: 4px; }
s.misheard { text-decoration-color: #d62f2f; text-decoration-thickness: 2px; color: #9b3b3b; }
.pair-meta { display: flex; flex-wrap: wrap; align-items: center; gap: .3rem .8rem; font-size: .75rem;
  color: var(--muted); }
.video-link { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; color: var(--accent);
  text-decoration: none; max-width: 14rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.video-link:hover { text-decoration: underline; }
.time { font-variant-numeric: tabular-nums; }
.group-scores { display: flex; gap: 1rem; margin-bottom: .1rem; }
.empty { text-align: center; color: var(--muted); font-size: 1.05rem; padding: 3rem 1rem; }
dialog#zoom { border: 0; padding: 0; background: transparent; max-width: 96vw; max-height: 96vh; }
dialog#zoom::backdrop { background: rgba(10, 12, 18, .88); }
dialog#zoom img { display: block; max-width: 96vw; max-height: 96vh; cursor: zoom-out; }
"""

# Filtering: every control writes the shared state, the state goes to the URL query, and one
# function applies it; on load the query is read first, so a link reproduces a filtered view.
# Tags of one facet are alternatives (low OR high magnification); facets combine (AND).
# Record data is only ever read from data attributes and written with textContent.
SCRIPT = """
"use strict";
(() => {
  const all = (sel, root = document) => [...root.querySelectorAll(sel)];
  const pairs = all(".pair");
  const groups = all(".group");
  const chips = all(".filter-chip");
  const videoSelect = document.getElementById("video");
  const search = document.getElementById("q");
  const count = document.getElementById("count");
  const empty = document.getElementById("empty");
  const facetOf = new Map(chips.map((c) => [c.dataset.tag, c.dataset.facet]));
  const tagsOf = new Map(pairs.map((p) => [p, new Set(JSON.parse(p.dataset.tags || "[]"))]));
  const wordsOf = new Map(pairs.map((p) => [p, (p.dataset.video + " " + p.textContent).toLowerCase()]));
  const state = { video: "", tags: new Set(), q: "" };

  function readQuery() {
    const query = new URLSearchParams(location.search);
    state.video = query.get("video") || "";
    state.tags = new Set(query.getAll("tag"));
    state.q = query.get("q") || "";
  }

  function writeQuery() {
    const query = new URLSearchParams();
    if (state.video) query.set("video", state.video);
    for (const tag of state.tags) query.append("tag", tag);
    if (state.q) query.set("q", state.q);
    const text = query.toString();
    history.replaceState(null, "", text ? "?" + text : location.pathname);
  }

  function wantedByFacet() {
    const byFacet = new Map();
    for (const tag of state.tags) {
      const facet = facetOf.get(tag) || "other:" + tag;
      if (!byFacet.has(facet)) byFacet.set(facet, []);
      byFacet.get(facet).push(tag);
    }
    return [...byFacet.values()];
  }

  function matches(pair, wanted, words) {
    if (state.video && pair.dataset.video !== state.video) return false;
    const have = tagsOf.get(pair);
    if (!wanted.every((alternatives) => alternatives.some((tag) => have.has(tag)))) return false;
    return !words || wordsOf.get(pair).includes(words);
  }

  function showVideoOption() {
    // A link may name a video this page does not hold: show it selected (with 0 pairs), not silently "all".
    if (state.video && ![...videoSelect.options].some((o) => o.value === state.video)) {
      videoSelect.add(new Option(state.video + " (0)", state.video));
    }
    videoSelect.value = state.video;
  }

  function apply() {
    const wanted = wantedByFacet();
    const words = state.q.trim().toLowerCase();
    let shown = 0;
    for (const pair of pairs) {
      pair.hidden = !matches(pair, wanted, words);
      if (!pair.hidden) shown += 1;
    }
    for (const group of groups) group.hidden = all(".pair", group).every((p) => p.hidden);
    const noun = pairs.length === 1 ? "pair" : "pairs";
    count.textContent = shown === pairs.length ? `${shown} ${noun}` : `${shown} of ${pairs.length} ${noun}`;
    empty.hidden = shown > 0;
    showVideoOption();
    for (const chip of chips) chip.setAttribute("aria-pressed", String(state.tags.has(chip.dataset.tag)));
    if (search.value !== state.q) search.value = state.q;
  }

  function change(update) {
    update();
    writeQuery();
    apply();
  }

  // Enter in the search box would submit the form and reload the page without its state.
  document.getElementById("filters").addEventListener("submit", (event) => event.preventDefault());
  videoSelect.addEventListener("change", () => change(() => { state.video = videoSelect.value; }));
  search.addEventListener("input", () => change(() => { state.q = search.value; }));
  for (const chip of chips) {
    chip.addEventListener("click", () => change(() => {
      const tag = chip.dataset.tag;
      if (!state.tags.delete(tag)) state.tags.add(tag);
    }));
  }
  document.getElementById("reset").addEventListener("click", () => change(() => {
    state.video = ""; state.tags.clear(); state.q = "";
  }));
  for (const link of all(".video-link")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      change(() => { state.video = link.dataset.video; });
    });
  }

  // The crop box is drawn over the letterboxed picture, so it needs the picture's own size.
  function placeCrop(figure) {
    const img = figure.querySelector("img");
    const box = figure.querySelector(".crop-box");
    const [x0, y0, x1, y1] = figure.dataset.crop.split(",").map(Number);
    const w = img.naturalWidth, h = img.naturalHeight;
    if (!w || !h || !(x1 > x0 && y1 > y0)) return;
    const frame = figure.clientWidth / figure.clientHeight;
    const fill = w / h > frame ? [100, (frame / (w / h)) * 100] : [((w / h) / frame) * 100, 100];
    const left = (100 - fill[0]) / 2, top = (100 - fill[1]) / 2;
    Object.assign(box.style, {
      left: `${left + (x0 / w) * fill[0]}%`, top: `${top + (y0 / h) * fill[1]}%`,
      width: `${((x1 - x0) / w) * fill[0]}%`, height: `${((y1 - y0) / h) * fill[1]}%`,
    });
    box.hidden = false;
  }
  for (const figure of all(".shot[data-crop]")) {
    const img = figure.querySelector("img");
    if (img.complete) placeCrop(figure); else img.addEventListener("load", () => placeCrop(figure));
  }

  const zoom = document.getElementById("zoom");
  for (const figure of all(".shot")) {
    figure.addEventListener("click", () => {
      zoom.querySelector("img").src = figure.querySelector("img").src;
      zoom.showModal();
    });
  }
  zoom.addEventListener("click", () => zoom.close());

  readQuery();
  apply();
})();
"""


def _script_hash() -> str:
    return base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii")


# Defence in depth behind the escaping: only this exact script may run (no inline handlers, no
# injected <script>), and nothing is fetched from anywhere but the page's own origin.
CONTENT_SECURITY_POLICY = (f"default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
                           f"script-src 'sha256-{_script_hash()}'; base-uri 'none'; form-action 'none'")
