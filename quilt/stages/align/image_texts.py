"""Which texts each image was already paired with, across videos, kept in the bucket.

A picture another video showed first is paired under that video's image_id. Whether the new
words are new information or a re-uploaded lecture saying the same thing again can only be
told against what the earlier video said, so every written pair leaves its text here, under
its image. Keys are deterministic (image digest, pair id): writing a pair again is harmless.
"""

from __future__ import annotations

from quilt.adapters.store import ObjectStore, get_json, put_json
from quilt.core import keys
from quilt.core.records import PairRecord


class ImageTexts:
    def __init__(self, store: ObjectStore, prefix: str = keys.IMAGE_TEXTS_PREFIX) -> None:
        self.store = store
        self.prefix = prefix.rstrip("/")

    def _folder(self, image_id: str) -> str:
        return keys.image_texts_folder(image_id, self.prefix)

    def add(self, record: PairRecord) -> None:
        body = {"image_id": record.image_id, "video_id": record.video_id, "pair_id": record.pair_id,
                "text": record.text}
        put_json(self.store, keys.image_text_key(record.image_id, record.pair_id, self.prefix), body)

    def texts(self, image_id: str, except_video: str = "") -> list[str]:
        """The texts paired with `image_id`, leaving out `except_video`'s own (a retried video must not
        find its own earlier attempt and drop everything as repeated)."""
        out = []
        for key in sorted(self.store.list(self._folder(image_id))):
            try:
                entry = get_json(self.store, key)
            except KeyError:  # deleted between LIST and GET (a takedown)
                continue
            if entry.get("image_id") == image_id and entry.get("video_id") != except_video:
                out.append(str(entry.get("text", "")))
        return out

    def texts_for(self, image_ids: set[str], except_video: str) -> dict[str, list[str]]:
        return {image: self.texts(image, except_video) for image in sorted(image_ids)}
