"""Writes the golden files of the rate layer: `python tests/golden/make_golden.py` (from the root).

For each model kind — factorized, hyperprior, context, context conditioned on another latent — a
compressed file (`<kind>.bin`), the exported coding state the decoder needs (`<kind>.msgpack`:
the integer tables, for the hyperprior with its integer h_s) and the arrays the file must
decode to (`decoded.npz`, with the conditioning latent). Rerun only when the file format changes
on purpose (and say so in the commit); `tests/test_entropy_golden.py` checks them.
"""
import os
import sys

import numpy as np
from flax import serialization

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/ (the context test's parameter helper)

from lossyless_jax.entropy import coding  # noqa: E402
from lossyless_jax.entropy import context as cx  # noqa: E402
from lossyless_jax.entropy.factorized import EntropyBottleneck  # noqa: E402
from lossyless_jax.entropy.hyperprior import VectorHyperprior  # noqa: E402
from lossyless_jax.entropy.testing import numpy_params  # noqa: E402
from test_entropy_context import make_params  # noqa: E402

DIM, H, W, C, CC = 16, 8, 12, 4, 3


def states():
  """{kind: coding state} (deterministic: NumPy-filled parameters)."""
  out = {}
  for kind, model in (("factorized", EntropyBottleneck(DIM)), ("hyperprior", VectorHyperprior(DIM))):
    out[kind] = coding.make_model_state(numpy_params(model, DIM, seed=0, perturb=0.2))
  for kind, cc in (("context", 0), ("context_cond", CC)):
    model = cx.ContextModel(C, cond_channels=cc)
    out[kind] = cx.export(model, make_params(model, seed=4))
  return out


def main():
  rng = np.random.default_rng(2026)
  decoded = {}
  cond = (np.rint(rng.normal(0, 2, (H, W, CC)) * 256) / 256).astype(np.float32)  # on the 2^-8 grid
  decoded["cond"] = cond
  for kind, state in states().items():
    if kind in ("factorized", "hyperprior"):
      z = rng.normal(0, 3, (50, DIM)).astype(np.float32)
      data = coding.compress(state, z)
      decoded[kind] = coding.decompress({"tables": state["tables"]}, data)
      saved = {"tables": state["tables"]} if kind == "factorized" else state
    else:
      y = rng.normal(0, 2, (H, W, C)).astype(np.float32)
      c = cond if kind == "context_cond" else None
      data = cx.compress(state, y, cond=c)
      decoded[kind] = cx.decompress(state, data, cond=c)
      saved = state
    with open(os.path.join(HERE, f"{kind}.bin"), "wb") as f:
      f.write(data)
    with open(os.path.join(HERE, f"{kind}.msgpack"), "wb") as f:
      f.write(serialization.msgpack_serialize(saved))
  np.savez(os.path.join(HERE, "decoded.npz"), **decoded)


if __name__ == "__main__":
  main()
