"""Freeze, compress, decode (paper §5): the steps of the evaluation that ``launch/codec.py`` shares.

1. ``views``: fixed evaluation views. Every example of a split is augmented ``eval.<split>_copies``
   times with keys derived from ``(eval.seed, split, copy, index)`` only, independent of batch
   sizes and devices (the paper augments train **and** test).
2. ``featurize``: the frozen encoder maps the views to ``z`` and the estimated bits −log2 q(ẑ).
3. ``compress_split``: the rate layer codes ``z`` into one real bitstream and decodes it; the
   decoded ẑ (checked equal to ``coding.quantize``) are the representations the probes see.
4. ``reconstruct``: ``sigmoid(decoder(ẑ))`` for the CNN on reconstructions (VIC / VC).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lossyless_jax import data as data_lib
from lossyless_jax.entropy import coding, container, factorized, rates
from lossyless_jax.methods.lossyless import defaults
from lossyless_jax.methods.lossyless import model as M

SPLIT_IDS = {"train": 1, "validation": 2, "test": 3}


def _chunks(n, chunk):
  for s in range(0, n, chunk):
    yield s, min(s + chunk, n)


def _pad(x, chunk):
  n = x.shape[0]
  if n == chunk:
    return x
  return np.concatenate([x, np.repeat(x[-1:], chunk - n, axis=0)])


def _chunked(fn, x, chunk, *args):
  """``fn(*args, padded chunk)`` over fixed-size chunks of ``x``; the outputs' rows concatenated."""
  outs = []
  for s, e in _chunks(len(x), chunk):
    out = fn(*args, jnp.asarray(_pad(x[s:e], chunk)))
    outs.append(jax.tree_util.tree_map(lambda a: np.asarray(a)[: e - s], out))
  return jax.tree_util.tree_map(lambda *a: np.concatenate(a), *outs)


@functools.lru_cache(maxsize=8)
def _augment_jit(config_json: str):
  config = M.config_from_json(config_json)

  def fn(base_key, idx, x):
    keys = jax.vmap(lambda i: jax.random.fold_in(base_key, i))(idx)
    return jax.vmap(lambda k, xi: M.augment_batch(k, xi[None], config)[0])(keys, x)
  return jax.jit(fn)


def num_copies(config, split: str) -> int:
  ev = defaults.eval_fields(config)
  return int(ev.get(f"{split}_copies", ev["test_copies"]))


def views(config, split: str, arrays: dict | None = None, copies: int | None = None):
  """(augmented inputs, labels) of `split`: `copies` fixed augmentations of every example."""
  ev = defaults.eval_fields(config)
  arrays = data_lib.load_arrays(config.data, split) if arrays is None else arrays
  x = np.asarray(arrays[M.input_key(arrays)], np.float32)
  y = np.asarray(arrays.get("label", np.zeros(len(x), np.int32)))
  copies = num_copies(config, split) if copies is None else int(copies)
  if defaults.kind_of(config) == "staggered" and x.ndim != 4:
    return x, y  # precomputed features: no augmentation
  fn = _augment_jit(M.config_json(config))
  chunk = int(ev["chunk"])
  out = []
  for c in range(copies):
    base = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(int(ev["seed"])), SPLIT_IDS.get(split, 9)), c)
    for s, e in _chunks(len(x), chunk):
      idx = _pad(np.arange(s, e, dtype=np.int32), chunk)
      out.append(np.asarray(fn(base, idx, _pad(x[s:e], chunk)))[: e - s])
  return np.concatenate(out), np.tile(y, copies)


@functools.lru_cache(maxsize=8)
def _encode_jit(config_json: str):
  config = M.config_from_json(config_json)

  def fn(params, model_state, x):
    z, _ = M.encode(params, model_state, x, config, train=False)
    _, rate = M.bottleneck(params, z, train=False)
    return z, rates.nats_to_bits(rate)
  return jax.jit(fn)


def featurize(params, model_state, config, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(z before quantization, estimated bits −log2 q(ẑ) per example), in fixed eval chunks."""
  z, bits = _chunked(_encode_jit(M.config_json(config)), x, int(defaults.eval_fields(config)["chunk"]),
                     params, model_state)
  return z.astype(np.float32), bits.astype(np.float64)


def finalize_rate(params):
  """Params with every factorized density's ``quantiles`` solved exactly (bisection in float64,
  ``factorized.exact_quantiles``): the values the auxiliary loss converges to. A few thousand
  CPU steps do not converge the aux loss, and under-estimated tails would send symbols through
  the coder's (exact but expensive) escape. Medians (eval rounding offsets) move accordingly;
  estimated and coded bits are both computed with the finalized params."""
  if "rate" not in params:
    return params

  def walk(node):
    if factorized._is_density(node):
      out = dict(node)
      out[factorized.QUANTILES] = np.asarray(factorized.exact_quantiles(node), np.float32)
      return out
    if isinstance(node, dict):
      return {k: walk(v) for k, v in node.items()}
    return node
  return {**params, "rate": walk(jax.tree_util.tree_map(np.asarray, dict(params["rate"])))}


def rate_state(params) -> dict:
  """Coding state (params + 24-bit tables) of the trained rate model, on the host."""
  return coding.make_model_state(jax.tree_util.tree_map(np.asarray, params["rate"]))


def header_bytes(data: bytes) -> int:
  h = container.read_header(data)
  return len(data) - sum(int(p) for p in h.payload_lengths)


def compress_split(state, z: np.ndarray) -> tuple[bytes, np.ndarray]:
  """(the file's bytes, the decoded ẑ); decoding is checked against ``coding.quantize``."""
  data = coding.compress(state, z)
  z_hat = coding.decompress({"tables": state["tables"]}, data)
  if not np.array_equal(z_hat, coding.quantize(state, z)):
    raise AssertionError("decompress(compress(z)) != quantize(z)")
  return data, z_hat


@functools.lru_cache(maxsize=8)
def _decode_jit(config_json: str, out_shape: tuple):
  config = M.config_from_json(config_json)

  def fn(params, model_state, z):
    out, _ = M.decode(params, model_state, z, config, out_shape, train=False)
    return jax.nn.sigmoid(out) if len(out_shape) == 3 else out
  return jax.jit(fn)


def reconstruct(params, model_state, config, z_hat, out_shape) -> np.ndarray:
  fn = _decode_jit(M.config_json(config), tuple(int(s) for s in out_shape))
  out = _chunked(fn, z_hat, int(defaults.eval_fields(config)["chunk"]), params, model_state)
  return np.clip(out, 0.0, 1.0) if len(out_shape) == 3 else out  # images in [0, 1]; vectors as decoded
