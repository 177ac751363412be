"""Continual CLIP fine-tuning on the finished pair stream (see training/train.py)."""
