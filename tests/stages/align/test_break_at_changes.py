"""Ending a sentence at an unpunctuated pause that the picture changes in (pure)."""

from __future__ import annotations

import pytest

from quilt.adapters.config import ConfigError, load_settings
from quilt.adapters.wire import sentences_from_pb, sentences_to_pb
from quilt.core.types import ScoredChunk, Sentence, SoftBreak
from quilt.stages.align.break_at_changes import cut_at, split_at_changes
from quilt.stages.align.pairing import AlignParams, align_video
from quiltpb.v1 import messages_pb2 as pb

TEXT = "At the conference last year, a lymphocytic infiltrate effaces the node."
ASR = "At the conference last year, a lymphocytic infil trait effaces the node."


def glued(pause: tuple[float, float] = (19.6, 20.1)) -> Sentence:
    """Two slides' speech as Whisper gave it: one sentence, the boundary only a pause."""
    brk = SoftBreak(start=pause[0], end=pause[1], text_offset=TEXT.index("a lymph"), asr_offset=ASR.index("a lymph"),
                    medical_before=False, medical_after=True)
    return Sentence(15.4, 24.4, TEXT, ASR, True, corrections={"infil trait": "infiltrate"},
                    correction_scores={"infil trait": 0.75}, entities=[("lymphocytic infiltrate", "finding")],
                    breaks=[brk])


def test_cut_gives_each_side_its_text_flag_corrections_and_entities() -> None:
    sentence = glued()
    first, second = cut_at(sentence, sentence.breaks[0])
    assert (first.start, first.end, first.text, first.asr_text) == (15.4, 19.6, "At the conference last year,",
                                                                     "At the conference last year,")
    assert not first.medical and first.corrections == {} and first.entities == []
    assert (second.start, second.end) == (20.1, 24.4)
    assert second.text == "a lymphocytic infiltrate effaces the node."
    assert second.asr_text == "a lymphocytic infil trait effaces the node."
    assert second.medical and second.corrections == {"infil trait": "infiltrate"}
    assert second.correction_scores == {"infil trait": 0.75}
    assert second.entities == [("lymphocytic infiltrate", "finding")]
    assert first.breaks == [] and second.breaks == []


def test_only_a_pause_the_picture_changes_in_ends_the_sentence() -> None:
    sentence = glued()
    assert split_at_changes([sentence], [9.4, 25.3]) == ([sentence], 0)  # no change near the pause
    parts, cut = split_at_changes([sentence], [9.4, 19.9, 25.3])
    assert cut == 1 and [p.text for p in parts] == ["At the conference last year,",
                                                     "a lymphocytic infiltrate effaces the node."]
    # The decoder reports a change up to a sampling step late: 0.5 s past the pause still counts ...
    assert split_at_changes([sentence], [20.6])[1] == 1
    # ... but not 1.5 s past it, and not when cutting is off.
    assert split_at_changes([sentence], [21.6])[1] == 0
    assert split_at_changes([sentence], [19.9], tolerance_s=-1)[1] == 0


def test_a_side_of_one_word_is_not_cut_off() -> None:
    text = "Here a lymphocytic infiltrate effaces the node."
    brk = SoftBreak(1.0, 1.5, text.index("a lymph"), text.index("a lymph"), False, True)
    sentence = Sentence(0.0, 5.0, text, text, True, breaks=[brk])
    assert split_at_changes([sentence], [1.2])[1] == 0
    assert split_at_changes([sentence], [1.2], min_words=1)[1] == 1


def test_of_two_pauses_the_one_holding_the_change_is_used() -> None:
    text = "The nodes, the sinuses and the lymphocytic infiltrate here."
    near = SoftBreak(4.0, 4.6, text.index("the lymph"), text.index("the lymph"), True, True)
    far = SoftBreak(1.0, 1.6, text.index("the sinuses"), text.index("the sinuses"), True, True)
    sentence = Sentence(0.0, 8.0, text, text, True, breaks=[far, near])
    parts, cut = split_at_changes([sentence], [4.3])
    assert cut == 1 and parts[1].text == "the lymphocytic infiltrate here."


def _chunk(t0: float, t1: float, keep: bool) -> ScoredChunk:
    return ScoredChunk(f"c{t0:g}", t0, t1, f"frames/{t0:g}.jpg", 0.9 if keep else 0.1, keep)


def test_the_aligner_pairs_the_second_slides_half_with_the_second_slide() -> None:
    # A presenter photo (rejected) then a histology slide; the narrator's sentence about the slide was
    # glued onto the chatter said over the photo. Uncut, the slide's pair carries the chatter too.
    chunks = [_chunk(15.6, 19.6, False), _chunk(19.6, 25.3, True)]
    models = {"asr": "whisper-test"}
    done = align_video("v-1", "t.mp4", chunks, [glued((19.6, 20.1))], models, "2024-01-01T00:00:00Z")
    assert done.cut == 1
    [pair] = done.pairs
    assert (pair.t_start, pair.text) == (19.6, "a lymphocytic infiltrate effaces the node.")
    assert [s.text for s in done.sentences] == ["At the conference last year,", pair.text]
    never = align_video("v-1", "t.mp4", chunks, [glued((19.6, 20.1))], models, "2024-01-01T00:00:00Z",
                        AlignParams(break_tolerance_s=-1))
    assert never.cut == 0 and [p.text for p in never.pairs] == [TEXT]


def test_soft_breaks_survive_the_wire_between_denoiser_and_aligner() -> None:
    sentence = glued()
    message = pb.DenoisedText(video_id="v-1", sentences=sentences_to_pb([sentence]))
    [back] = sentences_from_pb(list(pb.DenoisedText.FromString(message.SerializeToString()).sentences))
    assert back == sentence


def test_the_setting_reaches_the_aligner_service_and_is_checked() -> None:
    from quilt.adapters.stage_params import align_params

    assert align_params(load_settings({}, config_file=None)).break_tolerance_s == 0.6
    off = load_settings({"QUILT_PAIR_BREAK_TOLERANCE_S": "-1"}, config_file=None)
    assert align_params(off).break_tolerance_s == -1.0
    with pytest.raises(ConfigError, match="pair_break_tolerance_s"):
        load_settings({"QUILT_PAIR_BREAK_TOLERANCE_S": "5"}, config_file=None)
