"""Object keys in the bucket, every layout in one place. Deterministic, so a retried step overwrites its own output.

Whatever reads a key back into its ids (a takedown finding a video's objects, `quilt status` listing
videos) parses it here, next to the function that built it, so writer and reader cannot drift apart.
Pure string functions: no store, nothing heavy to import.
"""

from __future__ import annotations

import hashlib
import re

PAIRS_PREFIX = "pairs"
PAIR_RECORDS_PREFIX = f"{PAIRS_PREFIX}/records/"  # one JSON per pair, a folder per video
PHASH_INDEX_PREFIX = "index/phash"
IMAGE_TEXTS_PREFIX = "index/image-texts"
SEARCH_INDEX_PREFIX = "index/clip"
JOIN_STATE_PREFIX = "state/aligner/"
STATUS_PREFIX = "status/"
TAKEDOWN_PREFIX = "takedowns/"
DLQ_REPLAYED_PREFIX = "dlq/replayed"
QUARANTINE_PREFIX = "quarantine/"  # objects an operator tool could not read, moved aside with their key kept
SUBSCRIPTIONS_PREFIX = "subscriptions"
CHECKPOINT_PREFIX = "training/run"  # the trainer's default; its config may name another


def folder_of(key: str) -> str:
    """The folder (ending in "/") that holds `key`."""
    return key.rsplit("/", 1)[0] + "/"


def _name_of(key: str) -> str:
    return key.rsplit("/", 1)[-1]


# -- per-video objects ------------------------------------------------------------------------------------

def video_key(video_id: str, suffix: str) -> str:
    return f"videos/{video_id}/source{suffix or '.bin'}"


def frame_key(video_id: str, chunk_id: str) -> str:
    return f"frames/{video_id}/{chunk_id}.jpg"


def frames_folder(video_id: str) -> str:
    return folder_of(frame_key(video_id, "c"))


def fov_crop_key(image_key: str) -> str:
    """The histology filter's crop to the microscope's field of view, next to the frame it was cut from."""
    return image_key.removesuffix(".jpg") + "-fov.jpg"


def region_crop_key(image_key: str, number: int) -> str:
    """A frame's `number`-th other histology picture, cropped, next to the frame (its image id is the name)."""
    return image_key.removesuffix(".jpg").removesuffix("-fov") + f"-r{number}.jpg"


def quarantine_key(key: str) -> str:
    """Where an unreadable object is moved: under quarantine/, keeping its whole key."""
    return QUARANTINE_PREFIX + key


def frame_chunk_id(key: str) -> str:
    """The chunk id of a frame key, or of its field-of-view crop."""
    return _name_of(key).removesuffix(".jpg").removesuffix("-fov")


def image_owner(image_key: str) -> str:
    """The video whose frames hold `image_key` (`frames/<video_id>/...`), or "" for any other key."""
    parts = image_key.split("/")
    return parts[1] if len(parts) >= 3 and parts[0] == "frames" else ""


def audio_window_key(video_id: str, index: int) -> str:
    return f"audio/{video_id}/{index:05d}.f32"


def transcript_key(video_id: str, number: int) -> str:
    """One batch of ASR segments, written as soon as it is known (`quilt status` shows the progress)."""
    return f"transcripts/{video_id}/{number:05d}.json"


def pair_key(video_id: str, pair_id: str) -> str:
    return f"{PAIR_RECORDS_PREFIX}{video_id}/{pair_id}.json"


def pair_records_folder(video_id: str) -> str:
    return folder_of(pair_key(video_id, "p"))


def pair_id_of(key: str) -> str:
    """The pair id a pair record key names."""
    return _name_of(key).removesuffix(".json")


def join_key(video_id: str, part: str) -> str:
    """Where the aligner parks one half of a video until the other half arrives."""
    return f"{JOIN_STATE_PREFIX}{video_id}/{part}.pb"


def join_state_video(key: str) -> str:
    """The video a key under `state/aligner/` belongs to."""
    return key[len(JOIN_STATE_PREFIX):].split("/")[0]


def status_key(video_id: str, stage: str) -> str:
    return f"{STATUS_PREFIX}{video_id}/{stage}.json"


def status_folder(video_id: str) -> str:
    return f"{STATUS_PREFIX}{video_id}/"


def status_stage(key: str) -> str:
    """The stage a status key is about."""
    return _name_of(key).removesuffix(".json")


def status_video(key: str) -> str | None:
    """The video a key under `status/` is about; None for a key that is not in a video's folder."""
    return key.split("/")[1] if key.count("/") >= 2 else None


def video_folders(video_id: str) -> list[str]:
    """Every per-video folder of the bucket, in the order a takedown empties them.

    The video's shards and Parquet index are not folders of their own: see `shard_key` and `shard_index_key`.
    """
    return [
        folder_of(video_key(video_id, ".mp4")),  # videos/<id>/
        frames_folder(video_id),  # frames/<id>/ (with the filter's -fov crops)
        folder_of(audio_window_key(video_id, 0)),  # audio/<id>/
        folder_of(transcript_key(video_id, 0)),  # transcripts/<id>/
        pair_records_folder(video_id),  # pairs/records/<id>/
        folder_of(join_key(video_id, "text")),  # state/aligner/<id>/
        status_folder(video_id),  # status/<id>/
    ]


# -- WebDataset shards and their Parquet index ------------------------------------------------------------

_SHARD_NUMBER = re.compile(r"-(\d{5})\.tar")


def _under(prefix: str, kind: str, name: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{kind}/{name}" if prefix else f"{kind}/{name}"


def shards_folder(prefix: str = PAIRS_PREFIX) -> str:
    return _under(prefix, "shards", "")


def shard_key(shard_name: str, number: int, prefix: str = PAIRS_PREFIX) -> str:
    """`{prefix}/shards/{shard_name}-NNNNN.tar`; in the bucket the shard name is the video id."""
    return _under(prefix, "shards", f"{shard_name}-{number:05d}.tar")


def shard_index_key(shard_name: str, prefix: str = PAIRS_PREFIX) -> str:
    """`{prefix}/index/{shard_name}.parquet`, the Parquet index of the shards of that name."""
    return _under(prefix, "index", f"{shard_name}.parquet")


def is_shard_of(key: str, shard_name: str, prefix: str = PAIRS_PREFIX) -> bool:
    """Whether `key` is a shard of `shard_name`; a name that merely starts the same (`<name>-x`) is not."""
    folder = shards_folder(prefix)
    return key.startswith(folder) and re.fullmatch(re.escape(shard_name) + r"-\d{5}\.tar",
                                                   key[len(folder):]) is not None


def shard_number(key: str) -> int:
    """The NNNNN of a shard key (one that `is_shard_of` accepted)."""
    match = _SHARD_NUMBER.search(key)
    if match is None:
        raise ValueError(f"not a shard key: {key!r}")
    return int(match.group(1))


# -- cross-video indexes ----------------------------------------------------------------------------------

def phash_digest(text: str) -> str:
    """The digest in a perceptual-hash entry's name (of a video id, or of video id NUL chunk id)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def phash_band_folder(prefix: str, band: int, value: int, width: int) -> str:
    """`{prefix}/bNN/{band value in hex}/`: one folder per band value (see quilt/stages/decode/phash_index.py)."""
    return f"{prefix.rstrip('/')}/b{band:02d}/{value:0{(width + 3) // 4}x}/"


def phash_entry_name(value: int, video_id: str, chunk_id: str) -> str:
    """`<phash>.<digest(video)>.<digest(video, chunk)>`: a LIST alone ranks candidates and drops the video's own."""
    return f"{value:016x}.{phash_digest(video_id)}.{phash_digest(video_id + chr(0) + chunk_id)}"


def phash_entry_parts(key: str) -> tuple[str, str, str] | None:
    """(phash hex, video digest, chunk digest) of an entry key; None for anything else."""
    parts = _name_of(key).split(".")
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def image_texts_folder(image_id: str, prefix: str = IMAGE_TEXTS_PREFIX) -> str:
    """Where the texts paired with one image are kept, a folder per image digest."""
    return f"{prefix.rstrip('/')}/{hashlib.sha256(image_id.encode('utf-8')).hexdigest()[:24]}/"


def image_text_key(image_id: str, pair_id: str, prefix: str = IMAGE_TEXTS_PREFIX) -> str:
    return f"{image_texts_folder(image_id, prefix)}{pair_id}.json"


SEARCH_LATEST_KEY = f"{SEARCH_INDEX_PREFIX}/latest.json"  # {"version": N, "count": n}


def search_index_folder(version: int | str) -> str:
    """One search index per served CLIP version, so a promotion never mixes embedding spaces."""
    return f"{SEARCH_INDEX_PREFIX}/{version}/"


def search_embeddings_key(folder: str) -> str:
    return f"{folder}embeddings.npy"


def search_rows_key(folder: str) -> str:
    return f"{folder}pairs.json"


def search_folder_of(key: str) -> str | None:
    """The index folder whose rows `key` is, or None when `key` is no index's pairs.json."""
    return folder_of(key) if key.endswith("/pairs.json") else None


# -- operations -------------------------------------------------------------------------------------------

def takedown_marker_key(video_id: str) -> str:
    return f"{TAKEDOWN_PREFIX}{video_id}.json"


def takedown_marker_video(key: str) -> str | None:
    """The video a takedown marker withdraws; None for any other key."""
    rest = key[len(TAKEDOWN_PREFIX):]
    if not key.startswith(TAKEDOWN_PREFIX) or not key.endswith(".json") or "/" in rest:
        return None
    return rest.removesuffix(".json")


def dlq_replay_marker_key(topic: str, partition: int, offset: int) -> str:
    """One marker per replayed dead letter, so a second replay skips it."""
    return f"{DLQ_REPLAYED_PREFIX}/{topic}-{partition}-{offset}.json"


def subscriptions_folder(prefix: str = SUBSCRIPTIONS_PREFIX) -> str:
    return prefix.strip("/") + "/"


def subscription_key(sub_id: str, prefix: str = SUBSCRIPTIONS_PREFIX) -> str:
    return f"{prefix.strip('/')}/{sub_id}/subscription.json"


def subscription_seen_folder(sub_id: str, prefix: str = SUBSCRIPTIONS_PREFIX) -> str:
    """One object per video the subscription submitted, named by the video id."""
    return f"{prefix.strip('/')}/{sub_id}/seen/"


def is_subscription_key(key: str, prefix: str = SUBSCRIPTIONS_PREFIX) -> bool:
    rest = key[len(subscriptions_folder(prefix)):]
    return rest.count("/") == 1 and rest.endswith("/subscription.json")


# -- training ---------------------------------------------------------------------------------------------

def checkpoint_name(step: int) -> str:
    return f"ckpt-{step:09d}"


def checkpoint_file_key(prefix: str, name: str, file: str) -> str:
    """`{prefix}/{checkpoint name}/{file}` (state.pt, stream.json, lineage.json)."""
    return f"{prefix.strip('/')}/{name}/{file}"


def checkpoint_latest_key(prefix: str) -> str:
    """The newest complete checkpoint, written last."""
    return f"{prefix.strip('/')}/latest.json"


def promoted_key(prefix: str) -> str:
    """The promoted checkpoint and its history."""
    return f"{prefix.strip('/')}/promoted.json"
