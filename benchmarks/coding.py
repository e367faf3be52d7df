"""Entropy-coding throughput and overhead of ``lossyless_jax.entropy.coding``.

COMMAND: JAX_PLATFORMS=cpu python benchmarks/coding.py [--symbols 1048576] [--repeats 3] [--smoke]

Pins itself to one CPU core, then prints one JSON line per measurement::

    {"name", "symbols", "encode_symbols_per_s", "decode_symbols_per_s",
     "bits", "ideal_bits", "overhead", "ideal_table_bits", ...}

``bits`` is the coded size (payload bytes × 8, or the whole file for ``*/file`` rows),
``ideal_bits`` is Σ -log2 p under the model's own float64 likelihoods (continuous scales for
the Gaussian), ``ideal_table_bits`` the same under the stored 24-bit tables (the coder's
model), and ``overhead = bits / ideal_bits - 1``. Throughput is the best of ``--repeats`` runs.

Rows:

- ``factorized/tables``: per-channel tables of an ``EntropyBottleneck(32)`` fitted to Laplace
  sources (scales 0.5..16), on (N, 32) symbols (the coder core).
- ``factorized/file``: ``compress`` / ``decompress`` of the same latents (rounding, CRCs, header).
- ``gaussian/tables``: Gaussian conditional coding given scales and means (scale -> table index
  mapping, grouping by table, coding); the hyper-synthesis is not timed.
- ``hyperprior/file``: ``compress`` / ``decompress`` of a ``VectorHyperprior(64)`` fitted to a
  Gaussian scale mixture, including h_a / h_s on the CPU backend (symbols = latents + side).
- ``categorical/zipf``: ``encode_categorical`` / ``decode_categorical`` under a Zipf pmf.

``--smoke``: every row on 16,384 symbols, one repeat, 20 training steps (seconds, for the test
suite; its throughputs include compilation and are not comparable with the full run's).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
try:
  os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
  PINNED = True
except (AttributeError, OSError):
  PINNED = False

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from lossyless_jax.entropy import coding, factorized as fz, gaussian, rates, testing  # noqa: E402
from lossyless_jax.entropy.factorized import EntropyBottleneck  # noqa: E402
from lossyless_jax.entropy.hyperprior import VectorHyperprior  # noqa: E402
from lossyless_jax.entropy.tables import build_gaussian_tables  # noqa: E402


def best_time(fn, repeats):
  best, out = math.inf, None
  for _ in range(repeats):
    t = time.perf_counter()
    out = fn()
    best = min(best, time.perf_counter() - t)
  return best, out


def emit(name, n, t_enc, t_dec, bits, ideal, ideal_table=None, **extra):
  row = {
    "name": name,
    "symbols": int(n),
    "encode_symbols_per_s": round(n / t_enc),
    "decode_symbols_per_s": round(n / t_dec),
    "bits": int(bits),
    "ideal_bits": round(float(ideal), 1),
    "overhead": round(bits / ideal - 1.0, 6),
  }
  if ideal_table is not None:
    row["ideal_table_bits"] = round(float(ideal_table), 1)
  row.update(extra)
  print(json.dumps(row), flush=True)


def train_rate_model(model, data, steps, seed=0, lr=1e-2, batch=4096):
  """Fit ``model`` to ``data`` (N, d) by minimising the noisy-rate loss (nats) plus the
  quantiles' aux loss, each parameter group with its own Adam (``optimizer_labels``)."""
  params = testing.numpy_params(model, data.shape[1], seed=seed)
  tx = optax.multi_transform(
    {
      "default": optax.adam(optax.cosine_decay_schedule(lr, steps, 0.05)),
      "aux": optax.adam(optax.cosine_decay_schedule(0.5, steps, 0.01)),
    },
    fz.optimizer_labels,
  )
  state = tx.init(params)

  @jax.jit
  def step(params, state, z, key):
    def loss(p):
      _, lik = model.apply({"params": p}, z, train=True, rngs={"noise": key})
      return rates.rate_nats(lik).mean() + fz.total_aux_loss(p)

    g = jax.grad(loss)(params)
    upd, state = tx.update(g, state, params)
    return optax.apply_updates(params, upd), state

  rng = np.random.default_rng(seed)
  key = jax.random.key(seed)
  data = jnp.asarray(data)
  for i in range(steps):
    idx = rng.integers(0, data.shape[0], batch)
    params, state = step(params, state, data[idx], jax.random.fold_in(key, i))
  return jax.tree_util.tree_map(np.asarray, params)


def model_ideal_bits(model, params, z):
  """Σ -log2 p under the model's own eval-mode likelihoods (float32 model, summed in f64)."""
  _, lik = jax.jit(model.apply)({"params": params}, jnp.asarray(z))
  return float(sum(-np.log2(np.asarray(x, np.float64)).sum() for x in jax.tree_util.tree_leaves(lik)))


def bench_factorized(n_total, repeats, rng, steps):
  c = 32
  n = n_total // c
  b = np.exp(np.linspace(math.log(0.5), math.log(16.0), c))  # Laplace scale per channel
  train = rng.laplace(0.0, b, (50_000, c)).astype(np.float32)
  model = EntropyBottleneck(c)
  params = train_rate_model(model, train, steps)
  z = rng.laplace(0.0, b, (n, c)).astype(np.float32)
  ideal = model_ideal_bits(model, params, z)
  state = coding.make_model_state(params)
  sec = state["tables"]["factorized"]
  k = coding.latent_symbols(state, z)["symbols"]
  ideal_table = coding.table_bits(k, np.broadcast_to(np.arange(c), k.shape), sec)
  t_enc, data = best_time(lambda: coding.encode_factorized_symbols(k, sec), repeats)
  t_dec, out = best_time(lambda: coding.decode_factorized_symbols(data, sec, n), repeats)
  assert np.array_equal(out, k)
  emit(
    "factorized/tables",
    k.size,
    t_enc,
    t_dec,
    8 * len(data),
    ideal,
    ideal_table,
    bits_per_symbol=round(8 * len(data) / k.size, 4),
  )
  t_enc, blob = best_time(lambda: coding.compress(state, z), repeats)
  t_dec, zh = best_time(lambda: coding.decompress(state, blob), repeats)
  assert np.array_equal(zh, coding.quantize(state, z))
  emit("factorized/file", k.size, t_enc, t_dec, 8 * len(blob), ideal, ideal_table)


def bench_gaussian(n_total, repeats, rng, num_scales):
  sec = build_gaussian_tables(gaussian.make_scale_table(num_scales=num_scales))
  n = n_total
  scales = np.exp(rng.uniform(math.log(0.11), math.log(64.0), n)).astype(np.float32)
  means = rng.normal(0, 5, n).astype(np.float32)
  z = (means + scales * rng.standard_normal(n).astype(np.float32)).astype(np.float32)
  k = np.rint(z - means).astype(np.int32)
  # model likelihood with the continuous scales, float64
  ideal = float(
    -np.log2(gaussian.gaussian_bin_probabilities(k.astype(np.float64), scales.astype(np.float64), xp=np)).sum()
  )

  def enc():
    idx = gaussian.scale_to_index(scales, sec["boundaries"])
    return coding.encode_gaussian_symbols(k, idx, sec)

  def dec():
    idx = gaussian.scale_to_index(scales, sec["boundaries"])
    return coding.decode_gaussian_symbols(data, idx, sec)

  idx = gaussian.scale_to_index(scales, sec["boundaries"])
  ideal_table = coding.table_bits(k, idx, sec)
  t_enc, data = best_time(enc, repeats)
  t_dec, out = best_time(dec, repeats)
  assert np.array_equal(out, k)
  emit(
    f"gaussian/tables[{num_scales}]",
    n,
    t_enc,
    t_dec,
    8 * len(data),
    ideal,
    ideal_table,
    bits_per_symbol=round(8 * len(data) / n, 4),
  )


def bench_hyperprior(n_total, repeats, rng, steps):
  d = 64
  n = max(1, n_total // d)

  def sample(m):  # a Gaussian scale mixture: the scale of each latent is side information
    scale = np.exp(rng.normal(1.0, 1.0, (m, 1))) * np.exp(np.linspace(-1, 1, d))
    return (scale * rng.standard_normal((m, d))).astype(np.float32)

  model = VectorHyperprior(d)
  params = train_rate_model(model, sample(50_000), steps, lr=3e-3, batch=512)
  z = sample(n)
  ideal = model_ideal_bits(model, params, z)
  state = coding.make_model_state(params)
  side = state["tables"]["factorized"]["medians"].size
  t_enc, blob = best_time(lambda: coding.compress(state, z), repeats)
  t_dec, zh = best_time(lambda: coding.decompress(state, blob), repeats)
  assert np.array_equal(zh, coding.quantize(state, z))
  emit("hyperprior/file", n * (d + side), t_enc, t_dec, 8 * len(blob), ideal, latents=n, dim=d, side_dim=side)


def bench_categorical(n_total, repeats, rng):
  k = 1 << 16
  pmf = 1.0 / np.arange(1, k + 1) ** 1.2
  pmf /= pmf.sum()
  s = rng.choice(k, size=n_total, p=pmf)
  ideal = float(-np.log2(pmf[s]).sum())
  t_enc, data = best_time(lambda: coding.encode_categorical(s, pmf), repeats)
  t_dec, out = best_time(lambda: coding.decode_categorical(data, pmf, n_total), repeats)
  assert np.array_equal(out, s)
  emit("categorical/zipf", n_total, t_enc, t_dec, 8 * len(data), ideal)


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--symbols", type=int, help="symbols per row (default 1048576; --smoke: 16384)")
  ap.add_argument("--repeats", type=int, help="timed runs per row, the best kept (default 3; --smoke: 1)")
  ap.add_argument(
    "--train-steps", type=int, help="Adam steps fitting the factorized / hyperprior models before coding (default 400; --smoke: 20)"
  )
  ap.add_argument("--smoke", action="store_true", help="tiny sizes, for the test suite")
  args = ap.parse_args()
  for name, full, smoke in (("symbols", 1 << 20, 1 << 14), ("repeats", 3, 1), ("train_steps", 400, 20)):
    if getattr(args, name) is None:
      setattr(args, name, smoke if args.smoke else full)
  rng = np.random.default_rng(0)
  print(
    json.dumps(
      {"name": "setup", "pinned_to_one_core": PINNED, "cores": sorted(os.sched_getaffinity(0)) if PINNED else None}
    ),
    flush=True,
  )
  bench_factorized(args.symbols, args.repeats, rng, args.train_steps)
  for num_scales in (64, 255):
    bench_gaussian(args.symbols, args.repeats, rng, num_scales)
  bench_hyperprior(args.symbols, args.repeats, rng, args.train_steps)
  bench_categorical(args.symbols, args.repeats, rng)


if __name__ == "__main__":
  main()
