"""Pure stage logic shared by the services and `quilt process`: one package per stage, its entry point in __init__.

fetch.fetch_video, decode.decode_lecture, asr.transcribe_lecture, denoise.denoise_transcript,
histo.filter_frames and align.align_video; `common` holds what several stages share. Nothing here reads
the environment, the settings, Kafka or gRPC: clients (object store, Triton, the served CLIP) and
parameters are passed in by the caller (tests/test_structure.py checks it).
"""
