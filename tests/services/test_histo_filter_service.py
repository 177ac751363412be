"""The histo_filter adapter: crops chrome away before scoring, stores the crop, tags impurities, scores another
video's image on that video's JPEG, and passes a chunk with no image through unscored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import structlog

from quilt.adapters.config import Settings
from quilt.adapters.store import LocalStore
from quilt.adapters.wire import scored_from_pb
from quilt.core.imaging import decode_jpeg, encode_jpeg
from quilt.core.types import Sentence
from quilt.stages.align.pairing import align
from quilt.stages.histo.magnification import magnification_class
from quilt.stages.histo.scorers import histo_score
from quilt.testing.impure import clean_tissue, viewer_window
from quilt.testing.slides import text_slide
from quiltpb.v1 import messages_pb2 as pb
from services import histo_filter
from services.contract import Context


class InProcessScorer:
    """Stands in for Triton only to keep this adapter test small; Triton itself is tested in test_triton.py."""

    name = "histo-heuristic-v1"

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def score(self, images: list[np.ndarray]) -> list[float]:
        self.seen.extend(images)
        return [histo_score(image) for image in images]


def test_viewer_frame_is_cropped_and_tagged(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    (viewer, _, box), (tissue, _, _) = viewer_window(1), clean_tissue(2)
    title = text_slide("Liver", ["lecture 3"])
    chunks = []
    for n, image in enumerate((viewer, tissue, title)):
        key = f"frames/v-1/c{n}.jpg"
        store.put_bytes(key, encode_jpeg(image))
        chunks.append(pb.FrameChunk(chunk_id=f"c{n}", t_start=n * 5.0, t_end=n * 5.0 + 4, image_key=key))
    scorer = InProcessScorer()
    ctx = Context(settings=Settings(), store=store, log=structlog.get_logger(), clients={"scorer": scorer})
    [out] = histo_filter.handle(ctx, "media.decoded", pb.DecodedMedia(video_id="v-1", chunks=chunks)).outputs
    viewer_chunk, tissue_chunk, title_chunk = out.message.chunks
    assert "ui_chrome" in viewer_chunk.impurity_tags and viewer_chunk.HasField("crop") and box is not None
    assert viewer_chunk.chunk.image_key == "frames/v-1/c0-fov.jpg"
    cropped = decode_jpeg(store.get_bytes(viewer_chunk.chunk.image_key))
    assert cropped.shape[:2] == scorer.seen[0].shape[:2] and cropped.shape[0] < viewer.shape[0]
    assert abs(viewer_chunk.crop.x0 - box[0]) <= 10 and abs(viewer_chunk.crop.y1 - box[3]) <= 10
    assert viewer_chunk.histo_score > histo_score(viewer)  # the crop scores better than the whole window
    assert list(tissue_chunk.impurity_tags) == [] and not tissue_chunk.HasField("crop")
    assert tissue_chunk.chunk.image_key == "frames/v-1/c1.jpg" and tissue_chunk.keep
    # Magnification is estimated on what was scored (the crop), for kept chunks only.
    assert viewer_chunk.keep and viewer_chunk.magnification == magnification_class(scorer.seen[0])
    assert tissue_chunk.magnification == magnification_class(scorer.seen[1]) != "unknown"
    assert not title_chunk.keep and title_chunk.magnification == "unknown"
    # The aligner reads all of it back from the wire.
    viewer_scored, tissue_scored, _ = scored_from_pb(list(out.message.chunks))
    crop = viewer_chunk.crop
    assert viewer_scored.impurity_tags == list(viewer_chunk.impurity_tags)
    assert viewer_scored.crop == [crop.x0, crop.y0, crop.x1, crop.y1]
    assert viewer_scored.magnification == viewer_chunk.magnification
    assert tissue_scored.crop == [] and tissue_scored.image_ref == "frames/v-1/c1.jpg"


def test_a_chunk_without_an_image_passes_through_unscored_and_reaches_the_aligner(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    tissue = clean_tissue(2)[0]
    store.put_bytes("frames/v-1/c0.jpg", encode_jpeg(tissue))
    intervals = [pb.Interval(t_start=6.0, t_end=11.0), pb.Interval(t_start=20.0, t_end=25.0)]
    # The repeat has no image_key and nothing in the store: fetching it would fail the message.
    repeat = pb.FrameChunk(chunk_id="v-1-rep", t_start=6.0, t_end=11.0, phash="0f0f0f0f0f0f0f0f",
                           intervals=intervals, duplicate_of="v-0-c00016300-00020700")
    chunks = [pb.FrameChunk(chunk_id="v-1-c0", t_start=0.0, t_end=6.0, image_key="frames/v-1/c0.jpg"), repeat,
              pb.FrameChunk(chunk_id="v-1-c2", t_start=11.0, t_end=20.0, image_key="frames/v-1/c0.jpg")]
    scorer = InProcessScorer()
    ctx = Context(settings=Settings(), store=store, log=structlog.get_logger(), clients={"scorer": scorer})
    result = histo_filter.handle(ctx, "media.decoded", pb.DecodedMedia(video_id="v-1", chunks=chunks))
    [out] = result.outputs
    assert len(scorer.seen) == 2  # the repeat was not scored
    assert [c.chunk.chunk_id for c in out.message.chunks] == ["v-1-c0", "v-1-rep", "v-1-c2"]  # order kept
    before, passed, after = out.message.chunks
    assert before.keep and after.keep
    assert passed.chunk == repeat and not passed.keep and passed.histo_score == 0.0
    assert passed.magnification == "unknown" and not passed.impurity_tags and not passed.HasField("crop")
    assert (result.detail["chunks"], result.detail["kept"], result.detail["duplicates"]) == (2, 2, 1)
    # The aligner reads it back as a competitor for each showing, never kept.
    scored = scored_from_pb(list(out.message.chunks))
    flagged = [c for c in scored if c.duplicate_of]
    assert [(c.t_start, c.t_end, c.keep, c.image_ref) for c in flagged] == [(6.0, 11.0, False, ""),
                                                                           (20.0, 25.0, False, "")]
    said = [Sentence(1.0, 5.0, "The glands are lined by columnar epithelium.", "", True),
            Sentence(6.3, 10.5, "Every resection specimen is fixed in formalin overnight.", "", True)]
    pairs = align("v-1", "x.mp4", scored, said, {}, "2024-01-01T00:00:00Z")
    assert [p.text for p in pairs] == ["The glands are lined by columnar epithelium."]


def test_another_videos_image_is_scored_on_its_jpeg_and_paired_under_its_image_id(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes("frames/v-0/c7.jpg", encode_jpeg(clean_tissue(5)[0]))  # stored when v-0 showed it first
    repeat = pb.FrameChunk(chunk_id="v-1-c1", t_start=6.0, t_end=11.0, phash="0f0f0f0f0f0f0f0f",
                           image_key="frames/v-0/c7.jpg", duplicate_of="v-0-c7")
    scorer = InProcessScorer()
    ctx = Context(settings=Settings(), store=store, log=structlog.get_logger(), clients={"scorer": scorer})
    result = histo_filter.handle(ctx, "media.decoded", pb.DecodedMedia(video_id="v-1", chunks=[repeat]))
    [out] = result.outputs
    [scored_chunk] = out.message.chunks
    assert len(scorer.seen) == 1 and scored_chunk.keep and scored_chunk.magnification != "unknown"
    assert (result.detail["chunks"], result.detail["kept"], result.detail["duplicates"]) == (1, 1, 1)
    said = [Sentence(6.3, 10.5, "The glands are lined by columnar epithelium.", "", True)]
    [pair] = align("v-1", "x.mp4", scored_from_pb(list(out.message.chunks)), said, {}, "2024-01-01T00:00:00Z")
    assert (pair.image_id, pair.image, pair.video_id) == ("v-0-c7", "frames/v-0/c7.jpg", "v-1")


def test_each_other_picture_of_a_slide_is_stored_and_paired_as_its_own_image(tmp_path: Path) -> None:
    from quilt.core import keys
    from quilt.core.ids import region_chunk_id
    from quilt.stages.histo import LocalHistoScorer
    from tests.stages.histo.picture_slides import two_picture_slide

    store = LocalStore(tmp_path)
    image, boxes = two_picture_slide(2)
    key = "frames/v-1/v-1-c00000000-00006000.jpg"
    store.put_bytes(key, encode_jpeg(image))
    frame = pb.FrameChunk(chunk_id="v-1-c00000000-00006000", t_start=0.0, t_end=6.0, image_key=key, phash="ab" * 8)
    ctx = Context(settings=Settings(), store=store, log=structlog.get_logger(),
                  clients={"scorer": LocalHistoScorer()})
    result = histo_filter.handle(ctx, "media.decoded", pb.DecodedMedia(video_id="v-1", chunks=[frame]))
    first, second = result.outputs[0].message.chunks
    assert result.detail["more_pictures"] == 1
    assert second.region_of == frame.chunk_id and second.chunk.chunk_id == region_chunk_id(frame.chunk_id, 1)
    assert second.chunk.image_key == keys.region_crop_key(key, 1) and second.keep and second.chunk.phash == ""
    stored = decode_jpeg(store.get_bytes(second.chunk.image_key))
    assert stored.shape[:2] == (second.crop.y1 - second.crop.y0, second.crop.x1 - second.crop.x0)
    assert keys.frame_chunk_id(second.chunk.image_key) == second.chunk.chunk_id  # takedown finds it by its id
    sentences = [Sentence(0.5, 5.0, "Two granulomas side by side.", "two granulomas side by side.", True)]
    pairs = align("v-1", "x.mp4", scored_from_pb(list(result.outputs[0].message.chunks)), sentences, {}, "now")
    assert sorted(p.image for p in pairs) == sorted([first.chunk.image_key, second.chunk.image_key])
    assert len({p.pair_id for p in pairs}) == 2 and {p.text for p in pairs} == {"Two granulomas side by side."}
