"""Fuzz of context-model files (`entropy.context`): each mutated file — bit flips, byte overwrites,
truncations, appended bytes — raises a documented `BitstreamError` subclass or decodes exactly to
the encoder's ŷ; nothing else escapes."""
import time

import numpy as np
import pytest

from lossyless_jax.entropy import container
from lossyless_jax.entropy import context as cx
from test_entropy_context import latent, setup, side_inputs


@pytest.mark.parametrize("variant", ["plain", "cond", "cond+side"])
def test_mutated_context_files_raise_or_decode_exactly(variant):
  _, _, state = setup(variant, scale_bias=1.0)
  rng = np.random.default_rng(7)
  cond, side = side_inputs(variant, rng)
  y = latent(rng)
  good = cx.compress(state, y, cond=cond, side=side)
  want = cx.decompress(state, good, cond=cond, side=side)
  outcomes, start = {}, time.time()
  for i in range(2000):
    data = bytearray(good)
    kind = i % 4
    if kind == 0:
      for _ in range(rng.integers(1, 4)):
        pos = rng.integers(len(data))
        data[pos] ^= 1 << rng.integers(8)
    elif kind == 1:
      data[rng.integers(len(data))] = rng.integers(256)
    elif kind == 2:
      data = data[:rng.integers(len(data))]
    else:
      data += rng.bytes(rng.integers(1, 16))
    try:
      got = cx.decompress(state, bytes(data), cond=cond, side=side)
    except container.BitstreamError as e:
      outcomes[type(e).__name__] = outcomes.get(type(e).__name__, 0) + 1
      continue
    assert np.array_equal(got, want), f"mutation {i} ({kind=}) decoded to other values"
    outcomes["exact"] = outcomes.get("exact", 0) + 1
  assert sum(outcomes.values()) == 2000 and outcomes.get("CorruptedBitstreamError", 0) > 0, outcomes
  assert time.time() - start < 120, "a mutated file is slow to refuse"
