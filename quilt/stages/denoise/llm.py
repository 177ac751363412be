"""Optional LLM backend for denoising, over any OpenAI-compatible chat completions server.

vLLM, the llama.cpp server, Ollama and Triton's OpenAI frontend all speak
POST {base_url}/chat/completions, so plain urllib is enough and adds no dependency.
An LLM can fix errors no word list covers, but it can also time out, answer prose or
invent text: every answer is checked against a strict schema, and anything wrong falls
back on the embedded lexicon corrector, with the reason in the backend label.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from quilt.core.types import Segment, Sentence
from quilt.stages.common.corrector import DENOISER_NAME, Lexicon, denoise, load_lexicon
from quilt.stages.common.entities import default_tagger, is_chatter
from quilt.stages.common.screen_vocab import ScreenShown, merge_terms

_MAX_CANDIDATES = 40
_SYSTEM = (
    "You correct speech-recognition errors in histopathology lecture transcripts. Fix misheard medical "
    "terms (prefer the candidate terms given), change nothing else, and list the sentences that describe "
    "what is seen on the slide (no chatter, no logistics). Answer with JSON only, exactly this schema: "
    '{"corrected_text": str, "corrections": [{"from": str, "to": str, "score": float between 0 and 1}], '
    '"medical_sentences": [str]}'
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class LlmReplyError(Exception):
    """The server answered, but not with what the schema demands."""


def validate_reply(obj: Any, asr_text: str) -> dict[str, Any]:
    """The reply if it matches the schema exactly, else LlmReplyError saying where it does not."""
    if not isinstance(obj, dict):
        raise LlmReplyError("reply is not a JSON object")
    expected = {"corrected_text", "corrections", "medical_sentences"}
    if set(obj) != expected:
        raise LlmReplyError(f"keys {sorted(obj)} != {sorted(expected)}")
    if not isinstance(obj["corrected_text"], str) or not obj["corrected_text"].strip():
        raise LlmReplyError("corrected_text must be a non-empty string")
    if not isinstance(obj["corrections"], list):
        raise LlmReplyError("corrections must be a list")
    for n, item in enumerate(obj["corrections"]):
        if not isinstance(item, dict) or set(item) != {"from", "to", "score"}:
            raise LlmReplyError(f"corrections[{n}] must have exactly from, to, score")
        if not isinstance(item["from"], str) or not isinstance(item["to"], str):
            raise LlmReplyError(f"corrections[{n}].from/to must be strings")
        score = item["score"]
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0.0 <= score <= 1.0:
            raise LlmReplyError(f"corrections[{n}].score must be a number in [0, 1]")
        # A "from" that was never said means the model invented the change.
        if item["from"].lower() not in asr_text.lower():
            raise LlmReplyError(f"corrections[{n}].from {item['from']!r} is not in the ASR text")
    sentences = obj["medical_sentences"]
    if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
        raise LlmReplyError("medical_sentences must be a list of strings")
    return obj


def candidate_terms(lexicon: Lexicon, segments: list[Segment], fallback: list[Sentence]) -> list[str]:
    """Terms the window probably says: those the lexicon corrector found or would correct to."""
    out: list[str] = []
    for s in fallback:
        out += list(s.corrections.values()) + [text for text, _ in s.entities]
    for seg in segments:
        for word in re.findall(r"[A-Za-z][A-Za-z-]+", seg.text):
            if not lexicon.is_known(word):
                match = lexicon.best_match(word.lower())
                if match is not None:
                    out.append(match[0])
    return list(dict.fromkeys(out))[:_MAX_CANDIDATES]


class LlmDenoiser:
    """Denoise with an LLM; `denoise` returns the sentences and which backend produced them."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 20) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s

    @property
    def name(self) -> str:
        return f"llm:{self.model}"

    def request_body(self, asr_text: str, candidates: list[str]) -> dict[str, Any]:
        user = (f"Candidate terms: {', '.join(candidates) if candidates else '(none)'}\n"
                f"ASR text: {asr_text}\nReturn the JSON object only.")
        return {"model": self.model, "temperature": 0, "response_format": {"type": "json_object"},
                "messages": [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]}

    def complete(self, asr_text: str, candidates: list[str]) -> dict[str, Any]:
        """The validated reply; raises OSError/ValueError/LlmReplyError for the caller to fall back on."""
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(self.request_body(asr_text, candidates)).encode()
        req = urllib.request.Request(f"{self.base_url}/chat/completions", data=data, headers=headers, method="POST")
        # The socket timeout bounds connect and every read, so a stalled server cannot hold the stage.
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            body = json.loads(resp.read())
        try:
            content = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LlmReplyError("not a chat completions response") from exc
        if not isinstance(content, str):
            raise LlmReplyError("message content is not text")
        # Some servers wrap JSON in a Markdown fence even when asked not to.
        content = re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", content)
        return validate_reply(json.loads(content), asr_text)

    def denoise(self, segments: list[Segment], lexicon: Lexicon | None = None,
                screen: Sequence[ScreenShown] = ()) -> tuple[list[Sentence], str]:
        """The terms the lecture's slides show (`screen`) lead the candidate terms the model is given."""
        lexicon = lexicon if lexicon is not None else load_lexicon()
        fallback = denoise(segments, lexicon, screen=screen)
        if not fallback:
            return fallback, self.name
        asr_text = " ".join(s.asr_text for s in fallback)
        shown = merge_terms(s.terms for s in sorted(screen, key=lambda s: s.t_start))
        candidates = list(dict.fromkeys([*shown, *candidate_terms(lexicon, segments, fallback)]))
        try:
            reply = self.complete(asr_text, candidates[:_MAX_CANDIDATES])
        except TimeoutError:
            return fallback, f"{DENOISER_NAME} (fallback: timeout after {self.timeout_s:g}s)"
        except urllib.error.HTTPError as exc:
            return fallback, f"{DENOISER_NAME} (fallback: HTTP {exc.code})"
        except urllib.error.URLError as exc:
            reason = "timeout" if isinstance(exc.reason, TimeoutError) else str(exc.reason)
            return fallback, f"{DENOISER_NAME} (fallback: {reason})"
        except (json.JSONDecodeError, UnicodeDecodeError):
            return fallback, f"{DENOISER_NAME} (fallback: invalid JSON)"
        except LlmReplyError as exc:
            return fallback, f"{DENOISER_NAME} (fallback: schema violation: {exc})"
        except OSError as exc:  # connection reset and the like
            return fallback, f"{DENOISER_NAME} (fallback: {type(exc).__name__}: {exc})"
        return _sentences_from_reply(reply, fallback), self.name


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _sentences_from_reply(reply: dict[str, Any], fallback: list[Sentence]) -> list[Sentence]:
    """Sentences of the LLM text; times from the lexicon sentences when the split agrees, else spread evenly."""
    texts = [t for t in _SENTENCE.split(reply["corrected_text"].strip()) if t]
    medical = {_norm(s) for s in reply["medical_sentences"]}
    corrections = {c["from"]: c["to"] for c in reply["corrections"]}
    scores = {c["from"]: float(c["score"]) for c in reply["corrections"]}
    t0, t1 = fallback[0].start, max(s.end for s in fallback)
    total = sum(len(t) for t in texts) or 1
    out: list[Sentence] = []
    pos = 0
    for n, text in enumerate(texts):
        if len(texts) == len(fallback):
            start, end, asr = fallback[n].start, fallback[n].end, fallback[n].asr_text
        else:  # the LLM merged or split sentences: character position is the best time guess left
            start, end, asr = t0 + (t1 - t0) * pos / total, t0 + (t1 - t0) * (pos + len(text)) / total, ""
        pos += len(text)
        keep = _norm(text) in medical and not is_chatter(text)
        mine = {k: v for k, v in corrections.items() if v.lower() in text.lower()}
        out.append(Sentence(start=start, end=end, text=text, asr_text=asr, medical=keep, corrections=mine,
                            correction_scores={k: scores[k] for k in mine},
                            entities=default_tagger().tag(text) if keep else []))
    return out


def denoise_with(backend: LlmDenoiser | None, segments: list[Segment], lexicon: Lexicon | None = None,
                 screen: Sequence[ScreenShown] = ()) -> tuple[list[Sentence], str]:
    """Denoise with the LLM backend, or the lexicon corrector when `backend` is None; and the producer's label."""
    if backend is None:
        return denoise(segments, lexicon, screen=screen), DENOISER_NAME
    return backend.denoise(segments, lexicon, screen)
