"""`python -m tests.faults` (`make test-faults`): faults and bad inputs against a real embedded stack.

1. Generates one good lecture per fault (and bystanders), and pairs them with `quilt process`
   (the same stage code in one process, no faults): the expected pair ids.
2. Starts its own embedded stack (broker, S3 store, Triton, six services) with tight limits.
3. For each fault: submits its lecture, injects the fault while the video is in the pipeline,
   waits for the video to end. A video that ended on the dead-letter topic with a retryable
   reason is replayed with `quilt.ops.dlq.replay`, as an operator would once the fault is over.
4. Sends every bad input, with bystander lectures in between.
5. Compares the bucket with the expected pairs, checks each video ended (done, or a dead letter
   with a reason and a failed status), prints a table, writes OUT/report.json and OUT/report.md,
   and ends with: faults: injected=N bad_inputs=M lost=L duplicated=D stuck=S
Exit status 1 when anything was lost, duplicated or stuck, or a bad input ended otherwise than expected.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from quilt.adapters.config import Settings
from quilt.adapters.schema import HEADER, header_for
from quilt.adapters.status import read_video_status
from quilt.adapters.store import ObjectStore, get_json
from quilt.core import keys, topics
from quilt.ops.dlq import LetterFilter, read_letters, replay
from quilt.ops.submit import Submitter, build_request
from quilt.stack.launcher import Stack
from quiltpb.v1 import messages_pb2 as pb
from tests.faults import media
from tests.faults.cases import BadInput, RawMessage, all_faults
from tests.faults.ledger import Totals, VideoAccount, VideoEnd, account
from tests.stack_fixture import bucket_of, stack_settings

ROOT = Path(__file__).resolve().parents[2]
console = Console(stderr=True)
MAX_DURATION_S = 60.0
MAX_PIXELS = 1920 * 1080
MAX_FPS = 30.0
MAX_MESSAGE_BYTES = 256 * 1024


def suite_settings(data_dir: Path, media_dir: Path) -> Settings:
    """The test stack's settings, with limits tight enough that the bad inputs stay small."""
    # Credentials unique to this run, so the logs can be searched for them afterwards.
    base = replace(stack_settings(data_dir), non_english="skip", max_message_bytes=MAX_MESSAGE_BYTES,
                   s3_access_key=f"quilt-ak-{secrets.token_hex(6)}", s3_secret_key=f"quilt-sk-{secrets.token_hex(12)}")
    limits = {"max_duration_s": MAX_DURATION_S, "max_pixels": MAX_PIXELS, "max_fps": MAX_FPS,
              "fetch_allow": "127.0.0.1", "local_source_roots": str(media_dir.resolve())}
    known = set(Settings.__dataclass_fields__)
    return replace(base, **{k: v for k, v in limits.items() if k in known})


# -- expected pairs ----------------------------------------------------------------------------------

def expected_pairs(files: list[Path], settings: Settings, out: Path) -> dict[str, set[str]]:
    env = {**os.environ, **settings.as_env(), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "quilt.cli", "process", *map(str, files), "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"quilt process failed:\n{done.stderr[-3000:]}")
    found: dict[str, set[str]] = {}
    for line in (out / "pairs.jsonl").read_text().splitlines():
        record = json.loads(line)
        found.setdefault(record["video_id"], set()).add(record["pair_id"])
    return found


# -- talking to the stack ------------------------------------------------------------------------------

def submit(settings: Settings, source: str) -> str:
    request = build_request(source)
    submitter = Submitter(settings)
    try:
        submitter.send([request])
    finally:
        submitter.producer.close()
    return request.video_id


def produce_raw(settings: Settings, raw: RawMessage) -> str:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.kafka, acks="all", max_request_size=4 * 1024 * 1024)
    try:
        producer.send(settings.topic(raw.topic), key=raw.key.encode(), value=raw.value,
                      headers=list(raw.headers) or None).get(timeout=30)
    finally:
        producer.close()
    return raw.key


def video_states(store: ObjectStore, video_id: str) -> dict[str, dict[str, Any]]:
    try:
        return read_video_status(store, video_id)
    except Exception:  # noqa: BLE001 - the store may be down during a fault
        return {}


def wait_end(store: ObjectStore, video_id: str, timeout_s: float, done_only: bool = False) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    states: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        states = video_states(store, video_id)
        if states.get("aligner", {}).get("state") == "done" or (not done_only and any(
                e.get("state") == "failed" for e in states.values())):
            return states
        time.sleep(0.5)
    return states


def pair_records(store: ObjectStore, video_id: str) -> list[dict[str, Any]]:
    return [get_json(store, key) for key in store.list(f"{keys.PAIRS_PREFIX}/records/{video_id}/")]


def end_of(video_id: str, states: dict[str, dict[str, Any]], letters: dict[str, list[str]]) -> VideoEnd:
    stage, entry = next(((s, e) for s, e in states.items() if e.get("state") == "failed"), ("", {}))
    return VideoEnd(video_id, finished=states.get("aligner", {}).get("state") == "done", failed_stage=stage,
                    failed_reason=entry.get("reason", ""), letter_reasons=tuple(letters.get(video_id, ())))


# -- the bad inputs ------------------------------------------------------------------------------------

def bad_inputs(web: str) -> list[BadInput]:
    fetched_traversal = pb.FetchedVideo(video_id="traversal-key", source="upload://x",
                                        object_key="../../../../etc/passwd")
    v2_header = ((HEADER, b"quiltpb.v2.VideoRequest"),)
    request = pb.VideoRequest(video_id="wrong-schema", source="/nowhere.mp4").SerializeToString()
    pair_as_transcript = pb.Pair(video_id="wrong-type", pair_id="p").SerializeToString()
    garbage = bytes(range(256)) * 8
    return [
        BadInput("corrupt file", "random bytes named .mp4", ("corrupt_input",), lambda d: media.corrupt(d / "c.mp4")),
        BadInput("truncated file", "an MP4 cut short, its index lost", ("corrupt_input",),
                 lambda d: media.truncated(d / "t.mp4")),
        BadInput("zero-length file", "an empty .mp4", ("empty_file",), lambda d: media.empty(d / "e.mp4")),
        BadInput("audio only", "an M4A of narration, no picture", ("no_video",),
                 lambda d: media.audio_only(d / "a.m4a")),
        BadInput("no speech", "tissue on screen, a silent audio track", None,
                 lambda d: media.silent_lecture(d / "s.mp4", seed=9100)),
        BadInput("4K at 60 fps", f"3840x2160 at 60 fps (limits {MAX_PIXELS} pixels, {MAX_FPS:.0f} fps)",
                 ("over_limit",), lambda d: media.uhd_60fps(d / "uhd.mp4", seed=1)),
        BadInput("very long file", f"{MAX_DURATION_S * 2:.0f} s (limit {MAX_DURATION_S:.0f} s)", ("over_limit",),
                 lambda d: media.long_video(d / "long.mp4", MAX_DURATION_S * 2, seed=2)),
        BadInput("non-English narration", "Spanish narration over tissue (non_english = skip)", ("non_english",),
                 lambda d: media.foreign_lecture(d / "es.mp4", seed=9200)),
        BadInput("URL that is not a video", "an HTML page over HTTP", ("not_a_video",),
                 lambda d: f"{web}/page.mp4"),
        BadInput("SSRF: link-local", "http://169.254.169.254/latest/meta-data.mp4 (cloud metadata)",
                 ("blocked_address",), lambda d: "http://169.254.169.254/latest/meta-data.mp4"),
        BadInput("SSRF: private", "http://10.0.0.7/video.mp4", ("blocked_address",),
                 lambda d: "http://10.0.0.7/video.mp4"),
        BadInput("SSRF: loopback", "http://[::1]:8080/video.mp4 (only 127.0.0.1 is allowlisted)",
                 ("blocked_address",), lambda d: "http://[::1]:8080/video.mp4"),
        BadInput("SSRF: redirect", "an allowlisted server redirecting to http://10.1.2.3/v.mp4",
                 ("blocked_address",), lambda d: f"{web}/redirect.mp4"),
        BadInput("local file outside the roots", "/etc/passwd as a source (local_source_roots = the media folder)",
                 ("blocked_path",), lambda d: "/etc/passwd"),
        BadInput("path traversal key", "a FetchedVideo whose object key is ../../../../etc/passwd",
                 ("bad_key",), lambda d: RawMessage(topics.FETCHED, "traversal-key",
                                                    fetched_traversal.SerializeToString(),
                                                    tuple(header_for(fetched_traversal)))),
        BadInput("hostile message key", "a VideoRequest keyed ../../status (the key names the video's objects)",
                 ("bad_key",), lambda d: RawMessage(topics.REQUESTED, "../../status",
                                                    pb.VideoRequest(video_id="x", source="/x.mp4").SerializeToString(),
                                                    ((HEADER, b"quiltpb.v1.VideoRequest"),)), has_status=False),
        BadInput("oversized message", f"{MAX_MESSAGE_BYTES * 2 // 1024} KiB on the requested topic "
                 f"(limit {MAX_MESSAGE_BYTES // 1024} KiB)", ("oversized_message",),
                 lambda d: RawMessage(topics.REQUESTED, "oversized", b"\0" * (MAX_MESSAGE_BYTES * 2))),
        *(BadInput(f"garbage on {topic}", f"2 KiB of non-protobuf bytes on {topic}", ("bad_message",),
                   (lambda t: lambda d: RawMessage(t, f"garbage-{t}", garbage))(topic))
          for topic in (topics.REQUESTED, topics.FETCHED, topics.DECODED, topics.TRANSCRIPTS, topics.DENOISED,
                        topics.FILTERED)),
        BadInput("wrong schema version", "a VideoRequest labelled quiltpb.v2", ("wrong_schema",),
                 lambda d: RawMessage(topics.REQUESTED, "wrong-schema", request, v2_header)),
        BadInput("wrong message type", "a Pair sent to the transcripts topic", ("wrong_schema",),
                 lambda d: RawMessage(topics.TRANSCRIPTS, "wrong-type", pair_as_transcript,
                                      ((HEADER, b"quiltpb.v1.Pair"),))),
    ]


# -- the run -------------------------------------------------------------------------------------------

def run(out: Path, only: set[str], keep: bool) -> int:
    out.mkdir(parents=True, exist_ok=True)
    media_dir = out / "media"
    media_dir.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="quilt-faults-"))
    settings = suite_settings(scratch / "stack", media_dir)
    faults = [f for f in all_faults() if not only or f.name in only]
    started = time.monotonic()
    console.print(f"generating {len(faults) + 3} lectures and the bad inputs in {media_dir}")
    lectures = {f.name: media.good_lecture(media_dir / f"fault-{i:02d}.mp4", seed=5000 + 10 * i)
                for i, f in enumerate(faults)}
    bystanders = [media.good_lecture(media_dir / f"bystander-{i}.mp4", seed=7000 + 10 * i) for i in range(3)]
    expected = expected_pairs([*lectures.values(), *bystanders], settings, scratch / "expected")
    console.print(f"expected pairs from quilt process: {sum(map(len, expected.values()))} "
                  f"({time.monotonic() - started:.0f} s)")
    stack = Stack(settings, say=lambda line: None)
    rows: list[dict[str, Any]] = []
    good: dict[str, str] = {}  # video id -> what it went through
    totals = Totals()
    try:
        stack.up(timeout_s=240)
        store = bucket_of(stack)
        for fault in faults:
            began = time.monotonic()
            video_id = submit(settings, str(lectures[fault.name]))
            good[video_id] = fault.name
            fault.inject(stack, store, video_id)
            totals.faults += 1
            states = wait_end(store, video_id, 300)
            replayed = _replay_if_retryable(settings, store, video_id, states)
            if replayed:  # the failed statuses stay until the replayed stages overwrite them: wait for done
                states = wait_end(store, video_id, 300, done_only=True)
            rows.append({"case": fault.name, "kind": "fault", "what": fault.what, "video_id": video_id,
                         "replayed": replayed, "seconds": round(time.monotonic() - began, 1)})
            console.print(f"fault {fault.name}: {_state_line(states)} ({time.monotonic() - began:.0f} s)"
                          + (f", replayed {replayed} dead letter(s)" if replayed else ""))
        with media.web_server(redirect_to="http://10.1.2.3/v.mp4") as web:
            cases = bad_inputs(web)
            sent: list[tuple[BadInput, str]] = []
            for number, case in enumerate(cases):
                made = case.make(media_dir)
                video_id = produce_raw(settings, made) if isinstance(made, RawMessage) else submit(settings, str(made))
                sent.append((case, video_id))
                totals.bad_inputs += 1
                if number % 6 == 0 and bystanders:  # good lectures in between: nothing else may be affected
                    bystander = bystanders.pop()
                    good[submit(settings, str(bystander))] = "bystander"
            for case, video_id in sent:
                if case.has_status:  # a key that names no video has no status to wait for: its letter is read below
                    wait_end(store, video_id, 240)
            for video_id in [v for v, why in good.items() if why == "bystander"]:
                wait_end(store, video_id, 240)
        letters: dict[str, list[str]] = {}
        for letter in read_letters(settings):
            letters.setdefault(letter.letter.video_id, []).append(letter.letter.reason)
        accounts: list[VideoAccount] = []
        ends: list[VideoEnd] = []
        for video_id, why in good.items():
            item = account(video_id, expected.get(video_id, set()), pair_records(store, video_id))
            end = end_of(video_id, video_states(store, video_id), letters)
            accounts.append(item)
            ends.append(end)
            for row in rows:
                if row["video_id"] == video_id:
                    row.update(_verdict(item, end))
            if why == "bystander":
                rows.append({"case": "bystander lecture", "kind": "good", "what": "a good lecture among the bad "
                             "inputs", "video_id": video_id, **_verdict(item, end)})
        for case, video_id in sent:
            end = replace(end_of(video_id, video_states(store, video_id) if case.has_status else {}, letters),
                          has_status=case.has_status)
            ends.append(end)
            pairs = len(pair_records(store, video_id)) if case.has_status else 0
            outcome = (f"dead letter {', '.join(sorted(set(end.letter_reasons)))}" if end.letter_reasons
                       else "done, no pairs" if end.finished and not pairs else _state_line(video_states(store,
                                                                                                         video_id)))
            if case.reasons is None:
                ok = end.finished and pairs == 0 and not end.letter_reasons
            else:
                ok = (bool(set(end.letter_reasons) & set(case.reasons))
                      and (end.failed_reason in case.reasons if case.has_status else not end.failed_reason))
            if not ok:
                totals.mismatched.append(case.name)
            rows.append({"case": case.name, "kind": "bad input", "what": case.what, "video_id": video_id,
                         "expected": "done, no pairs" if case.reasons is None else " or ".join(case.reasons),
                         "outcome": outcome, "status_reason": end.failed_reason, "ok": ok})
        totals.add(accounts, ends)
    finally:
        stack.down(timeout_s=20)
        leaks = credential_leaks(settings)
        if leaks:
            totals.mismatched.append(f"credentials in {len(leaks)} log line(s)")
        if not keep:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
    _report(out, rows, totals, time.monotonic() - started)
    as_expected = sum(1 for r in rows if r.get("kind") == "bad input" and r.get("ok"))
    print(f"bad inputs: tried={totals.bad_inputs} as_expected={as_expected}"
          + (f" problems: {'; '.join(totals.mismatched)}" if totals.mismatched else ""), flush=True)
    print(totals.line(), flush=True)
    return 0 if totals.ok else 1


def credential_leaks(settings: Settings) -> list[str]:
    """Log lines (every component's log of the whole run) that contain a credential of the run."""
    values = [settings.s3_access_key, settings.s3_secret_key]
    files = sorted((settings.data_dir / "logs").glob("*.log"))
    lines = 0
    leaks = []
    for path in files:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            lines += 1
            if any(value in line for value in values):
                leaks.append(f"{path.name}:{number}")
    print(f"secrets: logs={len(files)} lines={lines} leaked={len(leaks)}", flush=True)
    return leaks


def _replay_if_retryable(settings: Settings, store: ObjectStore, video_id: str,
                         states: dict[str, dict[str, Any]]) -> int:
    if not any(e.get("state") == "failed" for e in states.values()):
        return 0
    wanted = LetterFilter(video=video_id, retryable_only=True)
    letters = [item for item in read_letters(settings) if wanted.matches(item)]
    return len(replay(settings, store, letters).replayed) if letters else 0


def _state_line(states: dict[str, dict[str, Any]]) -> str:
    failed = [f"{s} failed ({e.get('reason')})" for s, e in states.items() if e.get("state") == "failed"]
    if failed:
        return "; ".join(failed)
    return "done" if states.get("aligner", {}).get("state") == "done" else "not finished"


def _verdict(item: VideoAccount, end: VideoEnd) -> dict[str, Any]:
    return {"expected": f"{item.expected} pairs", "outcome": f"{item.found} pairs, lost {len(item.lost)}, "
            f"duplicated {item.duplicated}" + (", STUCK" if end.stuck else ""),
            "ok": item.clean and not end.stuck, "lost": item.lost, "duplicated": item.duplicated,
            "unexpected": item.unexpected}


def _report(out: Path, rows: list[dict[str, Any]], totals: Totals, seconds: float) -> None:
    table = Table(title=f"fault suite ({seconds:.0f} s)")
    for column in ("case", "kind", "expected", "outcome", "ok"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["case"], row["kind"], str(row.get("expected", "")), str(row.get("outcome", "")),
                      "[green]yes[/]" if row.get("ok") else "[red]NO[/]")
    Console(stderr=False).print(table)
    (out / "report.json").write_text(json.dumps({"rows": rows, "totals": asdict(totals), "seconds": seconds},
                                                indent=2, default=str))
    lines = ["| case | what | outcome |", "|---|---|---|"]
    lines += [f"| {r['case']} | {r['what']} | {r.get('outcome', '')} |" for r in rows]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="build/faults", help="report and generated media (default build/faults)")
    parser.add_argument("--only", action="append", default=[], metavar="FAULT",
                        help="run only this fault (repeatable), e.g. 'kill -9 asr'; bad inputs always run")
    parser.add_argument("--keep", action="store_true", help="keep the stack's data directory for a post-mortem")
    args = parser.parse_args(argv)
    return run(Path(args.out), set(args.only), args.keep)


if __name__ == "__main__":
    sys.exit(main())
