"""The loop tests' contrastive method. COMMAND: python launch/main.py --config=tests/configs/contrastive.py:DIM

`:DIM` sets the embedding dimension (default 8).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import loop_method  # noqa: E402  (registers the method "test_contrastive")


def get_config(arg=""):
  c = loop_method.get_config()
  if arg:
    c.model.dim = int(arg)
  return c
