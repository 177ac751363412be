"""Pairing kept chunks with the medical sentences spoken around them."""

from __future__ import annotations

from quilt.core.ids import pair_id
from quilt.core.records import PairRecord
from quilt.core.types import ScoredChunk, Sentence
from quilt.stages.align.pairing import AlignParams, align, align_video, estimate_lag, sentence_score, split_by_words

MODELS = {"asr": "whisper-test", "denoiser": "lexicon-denoiser-v1"}
NOW = "2024-01-01T00:00:00Z"


def chunk(t0: float, t1: float, keep: bool = True, score: float = 0.9) -> ScoredChunk:
    return ScoredChunk(f"c{t0:g}", t0, t1, f"frames/{t0:g}.jpg", score, keep)


def sent(t0: float, t1: float, text: str, medical: bool = True) -> Sentence:
    return Sentence(t0, t1, text, text.lower(), medical)


def run(chunks: list[ScoredChunk], sentences: list[Sentence], pad: float = 1.0, **params: float) -> list[PairRecord]:
    return align("v-1", "test.mp4", chunks, sentences, MODELS, NOW, AlignParams(pad_s=pad, **params))  # type: ignore[arg-type]


def test_sentences_inside_the_padded_window_are_paired() -> None:
    sentences = [
        sent(9.5, 10.2, "Just before."),       # overlaps the padding before the chunk
        sent(12.0, 14.0, "Inside."),
        sent(20.5, 21.0, "Just after."),       # overlaps the padding after the chunk
        sent(22.0, 24.0, "Too late."),         # outside the padded window
        sent(2.0, 8.0, "Too early."),
    ]
    [pair] = run([chunk(10.0, 20.0)], sentences, min_gap_s=0.0)  # the padding alone: no empty-picture competitors
    assert pair.text == "Just before. Inside. Just after."
    assert pair.asr_text == "just before. inside. just after."
    assert (pair.t_start, pair.t_end, pair.image) == (10.0, 20.0, "frames/10.jpg")
    assert pair.histo_score == 0.9 and pair.models == MODELS and pair.created_at == NOW
    assert (pair.video_id, pair.source) == ("v-1", "test.mp4")


def test_sentence_is_never_cut_and_goes_to_the_larger_overlap() -> None:
    chunks = [chunk(0.0, 10.0), chunk(10.0, 20.0)]
    sentences = [sent(8.0, 15.0, "Mostly in the second."), sent(5.0, 11.0, "Mostly in the first.")]
    first, second = run(chunks, sentences)
    assert first.text == "Mostly in the first."
    assert second.text == "Mostly in the second."


def test_tie_goes_to_the_earlier_chunk() -> None:
    chunks = [chunk(10.0, 20.0), chunk(0.0, 10.0)]  # given out of order
    [pair] = run(chunks, [sent(8.0, 12.0, "Straddles both.")])
    assert pair.t_start == 0.0


def test_sentence_in_a_gap_goes_to_the_nearer_chunk() -> None:
    chunks = [chunk(0.0, 10.0), chunk(12.0, 20.0)]
    [pair] = run(chunks, [sent(11.2, 11.6, "Closer to the second.")])
    assert pair.t_start == 12.0


def test_non_keep_chunks_give_no_pair_and_take_their_own_speech_with_them() -> None:
    chunks = [chunk(0.0, 10.0), chunk(10.0, 20.0, keep=False)]
    said = [sent(2.0, 8.0, "Granulomas here."), sent(9.0, 18.0, "Said over the title slide.")]
    [pair] = run(chunks, said)
    assert (pair.t_start, pair.text) == (0.0, "Granulomas here.")  # the title slide's sentence is dropped
    assert run([chunk(10.0, 20.0, keep=False)], [sent(12, 14, "x.")]) == []


def test_a_sentence_over_a_rejected_slide_is_not_glued_on_through_the_padding() -> None:
    # The outline slide follows the histology slide after a 0.5 s transition; its sentence starts within the
    # histology slide's 1 s padding, so with only kept chunks competing it used to land there.
    histology, outline = chunk(0.0, 10.0), chunk(10.5, 16.0, keep=False, score=0.01)
    said = [sent(1.0, 9.0, "The lymphocytes surround the glands."),
            sent(10.8, 15.5, "Today we cover hepatitis and cirrhosis.")]
    [pair] = run([histology, outline], said)
    assert pair.text == "The lymphocytes surround the glands."
    assert pair.pair_id == pair_id("v-1", 0.0, 10.0, "The lymphocytes surround the glands.")
    # Without the outline slide (nor an empty picture in its place) the sentence is glued on: the competitor is
    # what stops it.
    [glued] = run([histology], said, min_gap_s=0.0)
    assert "cirrhosis" in glued.text
    alignment = align_video("v-1", "test.mp4", [histology, outline], said, MODELS, NOW)
    assert alignment.unpaired == 1


def test_another_videos_image_is_paired_under_its_first_image_id_unless_the_words_repeat() -> None:
    histology = chunk(0.0, 10.0)
    earlier = "v-0-c00016300-00020700"  # the image id the picture got in the video that showed it first
    said = [sent(2.0, 8.0, "A bile duct."), sent(10.7, 15.0, "Napsin A is positive in the tumor cytoplasm.")]
    # Rejected by the filter: it takes its speech and gives no pair.
    rejected = ScoredChunk("c-rep", 10.5, 16.0, earlier, 0.1, False, duplicate_of=earlier)
    assert [(p.image_id, p.text) for p in run([histology, rejected], said)] == [("c0", "A bile duct.")]
    # Kept: the new words go with the first video's image (one image, several texts across videos).
    kept = ScoredChunk("c-rep", 10.5, 16.0, earlier, 0.9, True, phash="0f0f0f0f0f0f0f0f", duplicate_of=earlier)
    pairs = run([histology, kept], said)
    assert [(p.image_id, p.image, p.text) for p in pairs] == [
        ("c0", "frames/0.jpg", "A bile duct."), (earlier, earlier, "Napsin A is positive in the tumor cytoplasm.")]
    assert pairs[1].pair_id == pair_id("v-1", 10.5, 16.0, "Napsin A is positive in the tumor cytoplasm.")
    # The earlier video already said nearly that over it (a re-upload): dropped as a duplicate, counted.
    again = align_video("v-1", "test.mp4", [histology, kept], said, MODELS, NOW,
                        earlier_texts={earlier: ["Napsin A is positive in the tumor cytoplasm!"]})
    assert [p.text for p in again.pairs] == ["A bile duct."] and again.duplicates == 1
    # Different words over the same picture are new information; texts of other images do not count.
    other = align_video("v-1", "test.mp4", [histology, kept], said, MODELS, NOW,
                        earlier_texts={earlier: ["TTF-1 stains the nuclei of this adenocarcinoma."],
                                       "c0": ["Napsin A is positive in the tumor cytoplasm."]})
    assert len(other.pairs) == 2 and other.duplicates == 0


def test_medical_talk_over_the_presenter_camera_is_not_glued_onto_a_slide() -> None:
    # The decoder gives no chunk while the camera is on the presenter (10.5-15.0): an empty picture competes.
    before, after = chunk(0.0, 10.5), chunk(15.0, 25.0)
    aside = sent(10.8, 14.6, "As a pathologist I look at biopsies all day.")
    said = [sent(1.0, 9.5, "Bridging fibrosis."), aside, sent(14.6, 24.0, "Steatosis of the hepatocytes.")]
    pairs = run([before, after], said)
    assert [p.text for p in pairs] == ["Bridging fibrosis.", "Steatosis of the hepatocytes."]
    assert "biopsies" in " ".join(p.text for p in run([before, after], said, min_gap_s=0.0))  # glued without it
    # A cut or a fade shorter than the shortest stable chunk is a transition, not a picture.
    [pair] = run([chunk(0.0, 10.0), chunk(12.5, 20.0)], [sent(10.2, 11.0, "Granuloma.")])
    assert pair.t_start == 0.0


def test_an_empty_picture_takes_talk_before_the_first_and_after_the_last_slide() -> None:
    said = [sent(3.0, 7.6, "This course is about liver biopsies."), sent(8.5, 12.0, "Steatosis here."),
            sent(20.6, 25.0, "Next week we cover the kidney.")]
    [pair] = run([chunk(8.0, 20.0)], said)  # 0-8 and 20-25 show no stable picture
    assert pair.text == "Steatosis here."
    [glued] = run([chunk(8.0, 20.0)], said, min_gap_s=0.0)
    assert glued.text == " ".join(s.text for s in said)


def test_rejected_slides_keep_the_lag_model_working() -> None:
    # Every other slide is rejected (title slides): the lag is still estimated from all picture changes,
    # and the early openers of the rejected slides go with them instead of onto the kept slide before.
    chunks, sentences, slide_of = lagged_lecture(-1.0)
    chunks = [c if k % 2 == 0 else chunk(c.t_start, c.t_end, keep=False) for k, c in enumerate(chunks)]
    alignment = align_video("v-1", "test.mp4", chunks, sentences, MODELS, NOW, AlignParams(max_words=1000))
    assert abs(alignment.lag_s - -1.0) <= 0.1
    assert misassigned(alignment.pairs, slide_of) == 0
    assert {round((p.t_start - FIRST_S) / PERIOD_S) for p in alignment.pairs} == {0, 2, 4}
    assert sum(p.text.count("Slide") for p in alignment.pairs) == 12  # the kept slides' sentences, all of them
    assert alignment.unpaired == 12


def test_no_pair_without_medical_text() -> None:
    chunks = [chunk(0.0, 10.0), chunk(20.0, 30.0)]
    sentences = [sent(2.0, 4.0, "Like and subscribe.", medical=False), sent(22.0, 24.0, "Granuloma.")]
    pairs = run(chunks, sentences)
    assert [p.t_start for p in pairs] == [20.0]
    assert run(chunks, []) == []


def test_pair_ids_are_deterministic_and_output_ordered() -> None:
    chunks = [chunk(30.0, 40.0), chunk(0.0, 10.0), chunk(15.0, 25.0)]
    sentences = [sent(32.0, 33.0, "C."), sent(1.0, 2.0, "A."), sent(16.0, 17.0, "B.")]
    pairs = run(chunks, sentences)
    again = run(list(reversed(chunks)), list(reversed(sentences)))
    assert [p.to_dict() for p in pairs] == [p.to_dict() for p in again]
    assert [p.t_start for p in pairs] == [0.0, 15.0, 30.0]
    assert pairs[0].pair_id == pair_id("v-1", 0.0, 10.0, "A.")
    assert len({p.pair_id for p in pairs}) == 3


def test_zero_padding_needs_real_overlap() -> None:
    assert run([chunk(10.0, 20.0)], [sent(20.0, 21.0, "Touches the end only.")], pad=0.0) == []


# --- the narrator's lag -------------------------------------------------------------------------

FIRST_S, PERIOD_S = 5.0, 10.0
JITTER = (0.0, 0.08, -0.06, 0.1, -0.1, 0.04)  # the narrator is not a metronome
FIRST_LEN = (1.6, 1.3, 1.8, 1.5, 1.9, 1.4)  # a short opening sentence per slide
LAST_LEN = (1.2, 2.2, 1.6, 2.6, 1.4, 1.9)  # and a closing one of varying length


def lagged_lecture(lag: float) -> tuple[list[ScoredChunk], list[Sentence], dict[str, int]]:
    """Six 10 s slides; the talk about slide k runs over [change + lag, next change + lag - 0.2]."""
    chunks, sentences, slide_of = [], [], {}
    for k in range(6):
        change = FIRST_S + k * PERIOD_S
        chunks.append(chunk(change, change + PERIOD_S))
        start, end = change + lag + JITTER[k], change + PERIOD_S + lag - 0.2
        middle = start + FIRST_LEN[k] + 0.2 + 0.55 * (end - LAST_LEN[k] - start - FIRST_LEN[k] - 0.4)
        spans = [(start, start + FIRST_LEN[k]), (start + FIRST_LEN[k] + 0.2, middle),
                 (middle + 0.2, end - LAST_LEN[k] - 0.2), (end - LAST_LEN[k], end)]
        for j, (t0, t1) in enumerate(spans):
            text = f"Slide {k} shows granuloma number {j}."
            sentences.append(sent(t0, t1, text))
            slide_of[text] = k
    return chunks, sentences, slide_of


def misassigned(pairs: list[PairRecord], slide_of: dict[str, int]) -> int:
    wrong = 0
    for pair in pairs:
        k = round((pair.t_start - FIRST_S) / PERIOD_S)
        for text, slide in slide_of.items():
            wrong += text in pair.text and slide != k
    return wrong


def test_a_narrator_who_speaks_ahead_gets_the_lag_recovered() -> None:
    chunks, sentences, slide_of = lagged_lecture(-1.0)
    alignment = align_video("v-1", "test.mp4", chunks, sentences, MODELS, NOW, AlignParams(max_words=1000))
    assert abs(alignment.lag_s - -1.0) <= 0.1
    assert misassigned(alignment.pairs, slide_of) == 0
    assert sum(p.text.count("Slide") for p in alignment.pairs) == len(sentences)  # every sentence placed once
    # Without the lag model each slide's short opening sentence lands on the slide before it.
    zero_lag = run(chunks, sentences, max_lag_s=0.0, max_words=1000)
    assert misassigned(zero_lag, slide_of) == 5


def test_a_narrator_who_talks_on_after_the_change_gets_a_positive_lag() -> None:
    chunks, sentences, slide_of = lagged_lecture(+1.0)
    alignment = align_video("v-1", "test.mp4", chunks, sentences, MODELS, NOW, AlignParams(max_words=1000))
    assert abs(alignment.lag_s - 1.0) <= 0.1
    assert misassigned(alignment.pairs, slide_of) == 0
    assert misassigned(run(chunks, sentences, max_lag_s=0.0, max_words=1000), slide_of) >= 2


def test_lag_is_limited_and_needs_evidence() -> None:
    chunks, sentences, _ = lagged_lecture(-1.0)
    assert estimate_lag(chunks, sentences, max_lag_s=0.5) == 0.0  # the true lag lies outside the search
    assert estimate_lag(chunks[:3], sentences, max_lag_s=2.0) == 0.0  # two changes are not enough
    assert estimate_lag(chunks, sentences, max_lag_s=2.0, min_evidence=6) == 0.0


def test_speech_unrelated_to_the_slides_gives_no_lag() -> None:
    # Onsets every 2.2-4.9 s with no relation to the 9-13 s slides: chance alignments must not pass.
    chunks = [chunk(5.0 + 11.0 * k + (k % 3), 5.0 + 11.0 * (k + 1) + ((k + 1) % 3)) for k in range(12)]
    sentences, t = [], 3.0
    for n in range(60):
        length = 2.0 + (n * 37 % 29) / 10.0
        sentences.append(sent(t, t + length, f"Granuloma {n}."))
        t += length + 0.2
    assert estimate_lag(chunks, sentences, max_lag_s=2.0) == 0.0


def test_score_falls_as_a_sentence_moves_out_of_the_window() -> None:
    starts = [12.0, 18.5, 19.5, 20.5, 21.5]  # 2 s sentences sliding past the end of [10, 20]
    scores = [sentence_score(sent(s, s + 2.0, "x"), 10.0, 20.0) for s in starts]
    assert scores[0] == 1.0
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False)) and scores[-1] > 0.0
    # Symmetric: as far before the window as after it scores the same.
    assert abs(sentence_score(sent(8.5, 10.5, "x"), 10.0, 20.0) - scores[2]) < 1e-9
    # The pair's score is that of its sentence when it has one.
    paired = [run([chunk(10.0, 20.0)], [sent(s, s + 2.0, "Granuloma.")], pad=3.0, min_gap_s=0.0) for s in starts]
    assert all(abs(p.align_score - score) < 1e-3 for [p], score in zip(paired, scores, strict=True))


def test_pair_score_is_the_duration_weighted_mean() -> None:
    inside, outside = sent(12.0, 18.0, "Inside."), sent(20.0, 22.0, "Outside.")
    [pair] = run([chunk(10.0, 20.0)], [inside, outside], pad=3.0)
    expected = (6.0 * 1.0 + 2.0 * sentence_score(outside, 10.0, 20.0)) / 8.0
    assert abs(pair.align_score - expected) < 1e-3


# --- several texts per image --------------------------------------------------------------------


def words(n: int, tag: str) -> str:
    return " ".join([f"{tag}{i}" for i in range(n - 1)] + ["granuloma."])


def test_long_speech_is_split_into_several_pairs_of_one_image() -> None:
    sentences = [sent(11.0 + i, 11.5 + i, words(12, f"s{i}w")) for i in range(8)]  # 96 words
    pairs = run([chunk(10.0, 20.0)], sentences, max_words=60)
    assert len(pairs) == 2 and {p.image_id for p in pairs} == {"c10"}
    assert [len(p.text.split()) for p in pairs] == [48, 48]  # balanced, not 60 + 36
    assert " ".join(p.text for p in pairs) == " ".join(s.text for s in sentences)  # nothing cut or lost
    assert len({p.pair_id for p in pairs}) == 2
    assert [p.pair_id for p in pairs] == [p.pair_id for p in run([chunk(10.0, 20.0)], sentences[::-1], max_words=60)]


def test_a_sentence_longer_than_the_limit_stays_whole() -> None:
    sentences = [sent(11.0, 15.0, words(80, "a")), sent(15.5, 16.0, "Short granuloma.")]
    pairs = run([chunk(10.0, 20.0)], sentences, max_words=60)
    assert [p.text for p in pairs] == [sentences[0].text, "Short granuloma."]


def test_split_by_words_balances_and_respects_order() -> None:
    assert split_by_words([30, 30, 10], 60) == [(0, 1), (1, 3)]
    assert split_by_words([10, 10], 60) == [(0, 2)]
    assert split_by_words([70, 5], 60) == [(0, 1), (1, 2)]
    assert split_by_words([], 60) == []


def test_a_slide_shown_twice_gets_text_from_both_showings() -> None:
    first, again = ScoredChunk("img-a", 0.0, 10.0, "frames/a.jpg", 0.9, True, phash="0f0f0f0f0f0f0f0f"), \
        ScoredChunk("img-a", 20.0, 30.0, "frames/a.jpg", 0.9, True, phash="0f0f0f0f0f0f0f0f")
    other = ScoredChunk("img-b", 10.0, 20.0, "frames/b.jpg", 0.9, True, phash="f0f0f0f0f0f0f0f0")
    sentences = [sent(2.0, 5.0, "The portal tract is expanded."), sent(12.0, 15.0, "Now the glomerulus."),
                 sent(22.0, 26.0, "Back to the liver, note the bile duct injury.")]
    pairs = run([first, other, again], sentences)
    assert [(p.image_id, p.t_start) for p in pairs] == [("img-a", 0.0), ("img-b", 10.0), ("img-a", 20.0)]
    assert pairs[0].image == pairs[2].image == "frames/a.jpg"


def test_the_same_words_over_the_same_slide_twice_give_one_pair() -> None:
    shown = [ScoredChunk("img-a", t, t + 10.0, "frames/a.jpg", 0.9, True, phash="0f0f0f0f0f0f0f0f")
             for t in (0.0, 30.0)]
    between = ScoredChunk("img-b", 10.0, 30.0, "frames/b.jpg", 0.9, True, phash="f0f0f0f0f0f0f0f0")
    said = "Here the granulomas are non-caseating with giant cells."
    sentences = [sent(2.0, 6.0, said), sent(15.0, 18.0, "A glomerulus."), sent(29.5, 33.5, said)]
    alignment = align_video("v-1", "test.mp4", [*shown, between], sentences, MODELS, NOW)
    assert alignment.duplicates == 1
    kept = [p for p in alignment.pairs if p.image_id == "img-a"]
    assert len(kept) == 1 and kept[0].t_start == 0.0  # wholly inside its showing: the better aligned one


# --- metadata -----------------------------------------------------------------------------------


def test_pairs_carry_corrections_entities_and_chunk_metadata() -> None:
    meta = ScoredChunk("img-a", 10.0, 20.0, "frames/a.jpg", 0.8, True, phash="0f0f0f0f0f0f0f0f",
                       impurity_tags=["ui_chrome"], crop=[4, 8, 100, 120], magnification="high")
    first = Sentence(11.0, 14.0, "The hepatocytes show steatosis.", "the hepato sites show steatosis", True,
                     corrections={"hepato sites": "hepatocytes"}, entities=[("hepatocytes", "cell"),
                                                                         ("steatosis", "finding")])
    second = Sentence(14.5, 17.0, "Steatosis around the central vein of the liver.", "", True,
                      corrections={"central vain": "central vein"},
                      entities=[("Steatosis", "finding"), ("central vein", "tissue"), ("liver", "tissue")])
    [pair] = run([meta], [first, second])
    assert pair.image_id == "img-a"
    assert pair.corrections == {"hepato sites": "hepatocytes", "central vain": "central vein"}
    assert pair.entities == [{"text": "hepatocytes", "category": "cell"}, {"text": "steatosis", "category": "finding"},
                             {"text": "central vein", "category": "tissue"}, {"text": "liver", "category": "tissue"}]
    assert (pair.impurity_tags, pair.crop, pair.magnification) == (["ui_chrome"], [4, 8, 100, 120], "high")
    assert pair.sub_pathology == ["hepatobiliary"]
    assert 0.9 < pair.align_score <= 1.0


def test_a_frames_other_pictures_get_the_text_the_frame_won() -> None:
    from dataclasses import replace

    from quilt.core.ids import region_chunk_id, region_pair_id

    frame, after = chunk(0.0, 6.0), chunk(6.0, 12.0, keep=False, score=0.1)
    frame.crop = [10, 10, 300, 250]
    other_id = region_chunk_id(frame.chunk_id, 1)
    other = replace(frame, chunk_id=other_id, image_ref=f"{other_id}.jpg", crop=[340, 10, 630, 250], phash="",
                    histo_score=0.97, region_of=frame.chunk_id)
    sentences = [sent(0.5, 5.0, "The granuloma has a rim of lymphocytes."),
                 sent(6.5, 11.0, "Caseous necrosis fills the centre.")]
    alone = align_video("v", "s", [frame, after], sentences, {}, "t").pairs
    both = align_video("v", "s", [frame, other, after], sentences, {}, "t").pairs
    assert alone == [p for p in both if p.image_id == frame.chunk_id]  # the other picture competes for nothing
    [first, twin] = both
    assert twin.text == first.text and (twin.t_start, twin.t_end) == (first.t_start, first.t_end)
    assert (twin.image_id, twin.image, twin.crop, twin.histo_score) == (other_id, f"{other_id}.jpg",
                                                                       [340, 10, 630, 250], 0.97)
    assert twin.pair_id == region_pair_id(first.pair_id, other_id) != first.pair_id
    # A picture the message says was not kept gets no pair.
    rejected = replace(other, keep=False)
    assert align_video("v", "s", [frame, rejected, after], sentences, {}, "t").pairs == alone
    # A replay makes the same ids.
    assert [p.pair_id for p in align_video("v", "s", [other, frame, after], sentences, {}, "t").pairs] == \
        [first.pair_id, twin.pair_id]
