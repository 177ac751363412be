"""Watched sources (folders, s3 prefixes, playlists, channels) whose new videos get submitted.

All state lives in the object store, so polling survives process restarts and
any number of pollers agree on what has been seen.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from quilt.adapters.store import ObjectStore, get_json, put_json
from quilt.core import keys
from quilt.core.ids import short_hash
from quilt.core.types import StageError
from quilt.stages.fetch.sources import parse_source

Lister = Callable[[str], list[tuple[str, str]]]
Submit = Callable[[str, str], None]


@dataclass
class Subscription:
    sub_id: str
    source: str  # normalised source uri, what the lister is called with
    created_at: float  # unix seconds
    interval_s: float


def normalise(source: str) -> str:
    return parse_source(source).uri


def sub_id_for(normalised_source: str) -> str:
    return "sub-" + short_hash(normalised_source, length=12)


class SubscriptionRegistry:
    def __init__(self, store: ObjectStore, prefix: str = keys.SUBSCRIPTIONS_PREFIX) -> None:
        self.store = store
        self.prefix = prefix.strip("/")

    def _meta_key(self, sub_id: str) -> str:
        return keys.subscription_key(sub_id, self.prefix)

    def _seen_prefix(self, sub_id: str) -> str:
        return keys.subscription_seen_folder(sub_id, self.prefix)

    def add(self, source: str, interval_s: float = 3600) -> Subscription:
        """Subscribe; adding the same source again returns the existing subscription.

        A different interval on a re-add replaces the old one (created_at and seen ids stay).
        """
        uri = normalise(source)
        sub_id = sub_id_for(uri)
        key = self._meta_key(sub_id)
        if self.store.exists(key):
            existing = Subscription(**get_json(self.store, key))
            if existing.interval_s == interval_s:
                return existing
            existing.interval_s = interval_s
            put_json(self.store, key, asdict(existing))
            return existing
        sub = Subscription(sub_id=sub_id, source=uri, created_at=time.time(), interval_s=interval_s)
        put_json(self.store, key, asdict(sub))
        return sub

    def get(self, sub_id: str) -> Subscription | None:
        key = self._meta_key(sub_id)
        if not self.store.exists(key):
            return None
        return Subscription(**get_json(self.store, key))

    def list(self) -> list[Subscription]:
        subs = []
        for key in self.store.list(keys.subscriptions_folder(self.prefix)):
            if keys.is_subscription_key(key, self.prefix):
                try:
                    subs.append(Subscription(**get_json(self.store, key)))
                except KeyError:
                    continue  # removed while we were listing
        return sorted(subs, key=lambda s: (s.created_at, s.sub_id))

    def remove(self, sub_id_or_source: str) -> bool:
        """Forget a subscription and its seen ids; False when there was none."""
        sub = self.get(sub_id_or_source) if sub_id_or_source.startswith("sub-") else None
        if sub is None:
            sub = self._find_by_source(sub_id_or_source)
        if sub is None:
            return False
        # Seen markers first: a crash midway leaves a subscription that still works, not orphans.
        for key in list(self.store.list(self._seen_prefix(sub.sub_id))):
            self.store.delete(key)
        self.store.delete(self._meta_key(sub.sub_id))
        return True

    def _find_by_source(self, source: str) -> Subscription | None:
        candidates = {source.strip()}
        try:
            candidates.add(normalise(source))
        except StageError:
            # A watched folder that was deleted no longer parses; match its absolute path instead.
            candidates.add(str(Path(source.strip()).expanduser().absolute()))
        for sub in self.list():
            if sub.source in candidates:
                return sub
        return None

    def seen(self, sub_id: str) -> set[str]:
        prefix = self._seen_prefix(sub_id)
        return {key[len(prefix):] for key in self.store.list(prefix) if "/" not in key[len(prefix):]}

    def mark_seen(self, sub_id: str, video_id: str, source: str) -> None:
        put_json(self.store, self._seen_prefix(sub_id) + video_id, {"source": source, "at": time.time()})

    def poll(self, sub: Subscription, lister: Lister, submit: Submit) -> builtins.list[str]:
        """Submit every listed video not seen before; returns the ids submitted now.

        Order is submit, then mark seen: a crash in between re-submits that one
        video on the next poll, which is harmless because video ids are
        deterministic and downstream stages dedup by video id. The opposite
        order could lose a video forever.
        """
        already = self.seen(sub.sub_id)
        submitted: builtins.list[str] = []  # `list` is the method name in this class
        for video_id, source in lister(sub.source):
            if video_id in already:
                continue
            submit(video_id, source)
            self.mark_seen(sub.sub_id, video_id, source)
            already.add(video_id)
            submitted.append(video_id)
        return submitted
