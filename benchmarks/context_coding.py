"""Encode / decode time of the masked-context coder (``lossyless_jax.entropy.context``), both schedules.

COMMAND: python benchmarks/context_coding.py [--smoke] [--engine exact-f64|int64|both] [--cond] [--cores N]

Pins itself to one CPU core (BLAS single-threaded; ``--cores N``: the first N cores, 0: all of
them), briefly trains a ``ContextModel`` on a synthetic spatially correlated source (crops),
exports it, and codes one latent (64×128×96; with ``--smoke`` 6×10×8). It prints one JSON line per measurement:

- ``context/train``: steps, seconds, final training rate (bits per element);
- ``context/encode`` (wavefront) and ``context/decode`` (``schedule`` wavefront / raster, per
  engine): ``seconds``, ``steps`` (wavefronts), ``evaluations`` (calls of the parameter function),
  ``symbols_per_s``, ``coded_bits`` (whole file), ``payload_bits`` (range-coder words),
  ``ideal_bits`` (Σ -log2 q of the symbols under the exported integer model's 24-bit tables),
  ``float_bits`` (the float model's eval-mode estimate, context ``round(y)``), ``float_on_coded_bits``
  (the float model teacher-forced on the coded ŷ), ``load_avg`` (1-minute load before / after);
- ``context/ratio``: raster / wavefront decode time per engine.

A raster decode predicted to take longer than ``--raster-budget`` seconds (600) is measured on
the first rows only (a latent of ``rows × W × C``) and extrapolated per evaluation; its line then
says ``"extrapolated_from_rows"``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")


def _cores_arg(argv) -> int:
  """``--cores`` read before numpy and jax are imported, since their thread pools are fixed then."""
  for i, a in enumerate(argv):
    if a.startswith("--cores="):
      return int(a.split("=", 1)[1])
    if a == "--cores" and i + 1 < len(argv):
      return int(argv[i + 1])
  return 1


def _pin(cores: int) -> list[int]:
  """Restricts the process to its first ``cores`` CPUs (0: all) and sizes BLAS and XLA to them."""
  cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
  cpus = cpus[:cores] if cores > 0 else cpus
  try:
    os.sched_setaffinity(0, set(cpus))
  except (AttributeError, OSError):
    pass
  if len(cpus) == 1:
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
  for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, str(len(cpus)))
  return cpus


CPUS = _pin(_cores_arg(sys.argv[1:]))

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import scipy.ndimage as ndi  # noqa: E402

from lossyless_jax.entropy import coding, container  # noqa: E402
from lossyless_jax.entropy import context as cx  # noqa: E402
from lossyless_jax.entropy.gaussian import gaussian_likelihood  # noqa: E402


def source(rng, n, h, w, c):
  """Smooth Gaussian fields (blur σ 2 px) with per-channel amplitude plus white noise."""
  amp = np.exp(np.linspace(math.log(0.5), math.log(12.0), c))
  noise = np.exp(np.linspace(math.log(2.0), math.log(0.3), c))
  z = ndi.gaussian_filter(rng.standard_normal((n, h + 8, w + 8, c)), (0, 2, 2, 0))[:, 4:-4, 4:-4]
  z /= z.std(axis=(1, 2), keepdims=True)
  y = amp * z + noise * rng.standard_normal((n, h, w, c))
  return y.astype(np.float32)


def train(model, rng, steps, crop, batch, lr=1e-2):
  cond_c = model.cond_channels
  x0 = jnp.zeros((batch, crop, crop, model.channels))
  c0 = jnp.zeros((batch, crop, crop, cond_c)) if cond_c else None
  params = model.init({"params": jax.random.key(0), "noise": jax.random.key(1)}, x0, c0, train=True)["params"]
  tx = optax.adam(optax.cosine_decay_schedule(lr, max(steps, 1), 0.1))
  opt = tx.init(params)

  @jax.jit
  def step(params, opt, y, cond, key):
    def loss(p):
      _, lik = model.apply({"params": p}, y, cond, train=True, rngs={"noise": key})
      return -jnp.mean(jnp.log2(lik))

    val, g = jax.value_and_grad(loss)(params)
    upd, opt = tx.update(g, opt, params)
    return optax.apply_updates(params, upd), opt, val

  t, val = time.perf_counter(), float("nan")
  for i in range(steps):
    y = source(rng, batch, crop, crop, model.channels)
    cond = cond_of(y, rng) if cond_c else None
    params, opt, val = step(params, opt, y, cond, jax.random.key(i))
  seconds = round(time.perf_counter() - t, 2)
  emit("context/train", steps=steps, crop=[batch, crop, crop, model.channels], seconds=seconds,
       final_bits_per_element=round(float(val), 4))
  return jax.tree_util.tree_map(np.asarray, params)


def cond_of(y, rng):
  """A stand-in common latent: a coarse, rounded copy of the latent (what ŷ0 shares with ŷ)."""
  return np.round(0.5 * y + rng.normal(0, 0.5, y.shape)).astype(np.float32)


def escapes(state, sym):
  """Symbols outside their table (their Elias-gamma bits are not in ``ideal_bits``)."""
  g, idx = state["gaussian"], sym["indices"]
  kmin = g["kmin"][idx]
  return np.count_nonzero((sym["symbols"] < kmin) | (sym["symbols"] >= kmin + np.diff(g["starts"])[idx] - 1))


def emit(name, **fields):
  print(json.dumps({"name": name, **fields}), flush=True)


def load():
  return round(os.getloadavg()[0], 2)


def timed(fn):
  before = load()
  t = time.perf_counter()
  out = fn()
  return time.perf_counter() - t, out, [before, load()]


def float_bits(model, params, y, cond, y_hat):
  """Eval-mode float estimate, and the float model teacher-forced on the coded ŷ."""
  _, lik = jax.jit(lambda p, yy, cc: model.apply({"params": p}, yy, cc))(params, y, cond)
  ep = jax.jit(lambda p, yy, cc: model.apply({"params": p}, yy, cc, method=cx.ContextModel.entropy_parameters))
  scales, means = ep(params, y_hat, cond)
  coded = gaussian_likelihood(jnp.asarray(y_hat), scales, means)
  return [float(-np.log2(np.asarray(p, np.float64)).sum()) for p in (lik, coded)]


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--smoke", action="store_true", help="tiny latent and model, a few training steps")
  ap.add_argument("--engine", default="both", choices=[*cx.ENGINES, "both"])
  ap.add_argument("--cond", action="store_true", help="a conditioned model (C_cond = C)")
  ap.add_argument("--train-steps", type=int, default=None)
  ap.add_argument("--raster-budget", type=float, default=600.0, help="seconds; above it raster is extrapolated")
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--cores", type=int, default=1, help="CPU cores for BLAS and XLA (0: all); default one")
  args = ap.parse_args()
  h, w, c = (6, 10, 8) if args.smoke else (64, 128, 96)
  steps = args.train_steps if args.train_steps is not None else (10 if args.smoke else 400)
  crop, batch = (8, 2) if args.smoke else (16, 4)
  rng = np.random.default_rng(args.seed)
  model = cx.ContextModel(c, cond_channels=c if args.cond else 0)
  params = train(model, rng, steps, crop, batch)
  state = cx.export(model, params)
  y = source(rng, 1, h, w, c)[0]
  cond = cond_of(y, rng) if args.cond else None
  n = y.size
  wavefronts = sum(1 for _ in cx.wavefronts(h, w))
  engines = list(cx.ENGINES) if args.engine == "both" else [args.engine]
  common = {"shape": [h, w, c], "cond": bool(args.cond), "pinned_one_core": len(CPUS) == 1, "cores": len(CPUS)}

  t_enc, data, ld = timed(lambda: cx.compress(state, y, cond, engine=engines[0]))
  sym = cx.symbols(state, y, cond)
  ideal = coding.table_bits(sym["symbols"], sym["indices"], state["gaussian"])
  f_bits, f_coded = float_bits(model, params, y, cond, sym["y_hat"])
  head = container.read_header(data)
  bits = {
    "coded_bits": 8 * len(data),
    "payload_bits": 8 * head.payload_lengths[1],
    "ideal_bits": round(ideal, 1),
    "escapes": int(escapes(state, sym)),
    "payload_overhead": round(8 * head.payload_lengths[1] / ideal - 1, 6),
    "float_bits": round(f_bits, 1),
    "float_on_coded_bits": round(f_coded, 1),
    "ideal_vs_float": round(ideal / f_bits - 1, 6),
  }
  emit("context/encode", schedule="wavefront", engine=engines[0], seconds=round(t_enc, 3), steps=wavefronts,
       evaluations=wavefronts, symbols=n, symbols_per_s=round(n / t_enc), load_avg=ld, **bits, **common)

  for engine in engines:
    t_wave, out, ld = timed(lambda: cx.decompress(state, data, (h, w, c), cond, schedule="wavefront", engine=engine))
    np.testing.assert_array_equal(out, sym["y_hat"])
    emit("context/decode", schedule="wavefront", engine=engine, seconds=round(t_wave, 3), steps=wavefronts,
         evaluations=wavefronts, symbols=n, symbols_per_s=round(n / t_wave), load_avg=ld, **bits, **common)
    t_ras, extra, ld = raster_decode(state, y, cond, data, engine, args.raster_budget, sym["y_hat"])
    emit("context/decode", schedule="raster", engine=engine, seconds=round(t_ras, 3), steps=wavefronts,
         evaluations=h * w, symbols=n, symbols_per_s=round(n / t_ras), load_avg=ld, **extra, **bits, **common)
    emit("context/ratio", engine=engine, raster_over_wavefront=round(t_ras / t_wave, 2), target=5.0,
         cpus=len(os.sched_getaffinity(0)), load_avg_1min=load(), **common)


def raster_decode(state, y, cond, data, engine, budget, y_hat):
  """Raster decode time of the whole file, or extrapolated per evaluation from a file of its first
  rows when a 4-row probe predicts more than ``budget`` seconds."""
  h = y.shape[0]

  def rows(r):
    c = None if cond is None else cond[:r]
    blob = data if r == h else cx.compress(state, y[:r], c)
    t, out, ld = timed(lambda: cx.decompress(state, blob, None, c, schedule="raster", engine=engine))
    np.testing.assert_array_equal(out, y_hat if r == h else cx.quantize(state, y[:r], c))
    return t, ld

  probe = min(h, 4)
  t_probe, ld = rows(probe)
  predicted = t_probe * h / probe
  if probe == h:
    return t_probe, {}, ld
  if predicted <= budget:
    t, ld = rows(h)
    return t, {}, ld
  r = max(probe, min(h - 1, int(h * budget / predicted / 2)))
  t, ld = rows(r)
  return t * h / r, {"extrapolated_from_rows": r, "measured_seconds": round(t, 3)}, ld

if __name__ == "__main__":
  main()
