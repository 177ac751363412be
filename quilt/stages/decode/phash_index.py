"""Cross-video dedup: a perceptual-hash index kept as small objects in the store.

Banding (pigeonhole principle): the 64-bit hash is cut into `bands` disjoint bit ranges. If two
hashes differ in at most d bits, those d bits fall into at most d bands, so with bands = d + 1
at least one band is bit-for-bit identical. Every entry is therefore written once per band under
`{prefix}/b{band}/{band value}/`, and a lookup LISTs just those `bands` folders: a hash within
`max_distance` always shares at least one folder with the query. (With fewer bands, b, some band
differs in at most floor(d / b) bits, so the lookup also probes every band value within that
many bit flips; the default, b = d + 1, needs no flips.)

An object's name carries the entry's full hash and a digest of its video id, so a LIST alone
ranks candidates and drops same-video ones; only the winner is fetched (a GET) for its ids.
Keys depend only on (band, phash, video_id, chunk_id): a retried `add` overwrites, never duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from quilt.adapters.store import ObjectStore, get_json, put_json
from quilt.core import keys
from quilt.core.imaging import hamming

HASH_BITS = 64


@dataclass(frozen=True)
class Match:
    phash: str
    video_id: str
    chunk_id: str
    image_key: str
    distance: int


def _parse(phash: str) -> int:
    value = int(phash, 16)
    if not 0 <= value < 1 << HASH_BITS:
        raise ValueError(f"not a 64-bit hash: {phash!r}")
    return value


def _band_spans(bands: int) -> list[tuple[int, int]]:
    """(shift, width) per band, covering all 64 bits; the first bands get the spare bits."""
    base, extra = divmod(HASH_BITS, bands)
    spans = []
    top = HASH_BITS
    for band in range(bands):
        width = base + (1 if band < extra else 0)
        top -= width
        spans.append((top, width))
    return spans


class PhashIndex:
    def __init__(self, store: ObjectStore, prefix: str = keys.PHASH_INDEX_PREFIX, max_distance: int = 6,
                 bands: int | None = None) -> None:
        if not 0 <= max_distance < HASH_BITS:
            raise ValueError(f"max_distance must be in [0, {HASH_BITS}), got {max_distance}")
        self.store = store
        self.prefix = prefix.rstrip("/")
        self.max_distance = max_distance
        self.bands = bands or min(max_distance + 1, HASH_BITS)
        self.spans = _band_spans(self.bands)
        self.flips = max_distance // self.bands  # bits a band may still differ by (see module doc)

    def _folder(self, band: int, value: int) -> str:
        return keys.phash_band_folder(self.prefix, band, value, self.spans[band][1])

    def _band_value(self, band: int, value: int) -> int:
        shift, width = self.spans[band]
        return (value >> shift) & ((1 << width) - 1)

    def _probes(self, band: int, value: int) -> list[int]:
        """The band value and every value within `self.flips` bit flips of it."""
        width = self.spans[band][1]
        out = [value]
        for k in range(1, self.flips + 1):
            for bits in combinations(range(width), k):
                flipped = value
                for bit in bits:
                    flipped ^= 1 << bit
                out.append(flipped)
        return out

    def add(self, phash: str, video_id: str, chunk_id: str, image_key: str) -> None:
        """Record an image; writing the same entry again is harmless (same keys, same bodies)."""
        value = _parse(phash)
        name = keys.phash_entry_name(value, video_id, chunk_id)
        body = {"phash": f"{value:016x}", "video_id": video_id, "chunk_id": chunk_id, "image_key": image_key}
        for band in range(self.bands):
            put_json(self.store, self._folder(band, self._band_value(band, value)) + name, body)

    def find(self, phash: str, video_id: str | None = None) -> Match | None:
        """The closest indexed image within max_distance, ignoring entries of `video_id`."""
        value = _parse(phash)
        own = keys.phash_digest(video_id) if video_id is not None else None
        candidates: dict[str, tuple[int, str]] = {}  # object name -> (distance, one key holding it)
        for band in range(self.bands):
            for probe in self._probes(band, self._band_value(band, value)):
                for key in self.store.list(self._folder(band, probe)):
                    name = key.rsplit("/", 1)[-1]
                    parts = keys.phash_entry_parts(key)
                    if parts is None or parts[1] == own or name in candidates:
                        continue
                    distance = hamming(parts[0], f"{value:016x}")
                    if distance <= self.max_distance:
                        candidates[name] = (distance, key)
        for _name, (distance, key) in sorted(candidates.items(), key=lambda item: (item[1][0], item[0])):
            try:
                entry = get_json(self.store, key)
            except KeyError:  # deleted between LIST and GET
                continue
            if video_id is not None and entry["video_id"] == video_id:
                continue  # 64-bit digest collision: practically never, but be exact
            return Match(phash=entry["phash"], video_id=entry["video_id"], chunk_id=entry["chunk_id"],
                         image_key=entry["image_key"], distance=distance)
        return None
