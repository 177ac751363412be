"""Quilt streaming: narrated pathology lectures in, image-text pairs out."""

__version__ = "0.1.0"
