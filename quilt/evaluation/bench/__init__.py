"""Decoder benchmarks: the project's decoder against a plain full decode and Quilt's reference method."""
