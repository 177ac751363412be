"""The Triton model repository: one folder per model (config.pbtxt, version folders of python-backend code).

A package only so that it installs with quilt-stream and can be found without a checkout
(quilt.stack.locations.model_repository); nothing imports it, and Triton ignores this file.
"""
