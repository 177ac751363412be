"""Topic names at each stage boundary (prefixed by Settings.topic_prefix)."""

REQUESTED = "videos.requested"
FETCHED = "videos.fetched"
DECODED = "media.decoded"
TRANSCRIPTS = "transcripts"
DENOISED = "text.denoised"
FILTERED = "frames.filtered"
PAIRS = "pairs"
DEADLETTER = "deadletter"

ALL = (REQUESTED, FETCHED, DECODED, TRANSCRIPTS, DENOISED, FILTERED, PAIRS, DEADLETTER)
