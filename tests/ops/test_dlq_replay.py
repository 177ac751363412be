"""`quilt dlq replay` sends a letter back only to its own stage's input topic, as that topic's message type."""

from __future__ import annotations

from pathlib import Path

from quilt.adapters.config import Settings
from quilt.adapters.store import LocalStore
from quilt.ops.dlq import Letter, replay
from quiltpb.v1 import messages_pb2 as pb


def _letter(offset: int, stage: str, topic: str, value: bytes, video: str = "v-1") -> Letter:
    return Letter(0, offset, pb.DeadLetter(video_id=video, stage=stage, reason="model_unavailable", message="m",
                                           input_topic=topic, input_value=value, retryable=True, attempts=3))


def test_only_a_letter_for_its_own_stage_and_type_is_replayed(tmp_path: Path) -> None:
    settings = Settings()
    fetched = pb.FetchedVideo(video_id="v-1", object_key="videos/v-1/source.mp4").SerializeToString()
    decoded = pb.DecodedMedia(video_id="v-1").SerializeToString()
    letters = [
        _letter(1, "decoder", "quilt.videos.fetched", fetched),  # genuine
        _letter(2, "histo_filter", "quilt.media.decoded", decoded),  # genuine, the other reader of that topic
        _letter(3, "aligner", "quilt.pairs", b"\xff\x00junk"),  # forged: onto the pair topic
        _letter(4, "decoder", "quilt.pairs", fetched),  # a stage's letter naming another topic
        _letter(5, "decoder", "quilt.videos.fetched", b"\x0a\xff\xff\xff"),  # not a FetchedVideo
        _letter(6, "decoder", "quilt.videos.fetched", fetched, video="v-2"),  # another video's message
        _letter(7, "nobody", "quilt.videos.fetched", fetched),
        _letter(8, "decoder", "quilt.deadletter", fetched),
    ]
    outcome = replay(settings, LocalStore(tmp_path), letters, dry_run=True)
    assert [i.offset for i in outcome.replayed] == [1, 2]
    assert [i.offset for i in outcome.refused] == [3, 4, 5, 6, 7, 8]
    why = {offset: outcome.why[(0, offset)] for offset in (3, 4, 5, 6, 7, 8)}
    assert "not an input topic of the aligner stage" in why[3]
    assert "not an input topic of the decoder stage" in why[4] and "not an input topic" in why[8]
    assert "not a FetchedVideo" in why[5]
    assert "for video 'v-1', the letter for 'v-2'" in why[6]
    assert "names no stage" in why[7]
