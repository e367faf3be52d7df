"""NERD as a method of the loop: one run traces a rate–distortion curve (Lei et al., JSAIT 2023).

One generator G_θk per point of the curve (a slope β̃_k < 0 in Lagrangian mode, eq. (7); a target
distortion D_k in constrained mode, Algorithm 1), stacked along a leading axis and trained together
in one jitted step: each step draws M latents per generator, builds the (B, M) distortion matrices
against the shared data batch and minimises the sum of the duals (`losses.nerd`). Evaluation and
the report stream over a large M in chunks (`nerd_readouts_chunked`), so memory is O(B · chunk).

Config (`model`): generator `fc` (latent → hidden → out; the authors' `Decoder_FC`) or `dcgan`
(images), `latent_dim`, `hidden`, `output_activation`, `pre_activation_scale`, `channels`,
`out_channels`; `generator_workdir` (a finished run, e.g. `wgan_gp`, whose generator initialises
every G_θk).
Config (`loss`): `mode` lagrangian | constrained; `betas` (β̃ < 0, nats per unit distortion) or
`targets` (D, per sample, summed over coordinates); `num_samples` (M per training step);
`distortion`; `beta_min` (constrained search interval); `eval_num_samples`, `eval_chunk_size`,
`eval_points`; `kmeans` (K values of the k-means baseline, data sources); `rcc_num_candidates`
(N of one-shot coding; 0 disables), `rcc_method` (pfr | orc), `rcc_sources`,
`rcc_sources_per_codebook` (sources sharing one codebook of N candidates; the authors use 100).

The report (`report.json`) holds the curve as lists `beta`, `D`, `R_bits`, `near_ceiling`,
`log2_M`, and `R_exact_bits` where the source has a closed form, else the checks of
`curve_checks` (monotone, convex, zero-rate limit, k-means points above the curve); `rd_curve.json` and
`rd_curve.png` in the run directory show it; with one-shot coding, `rcc_*` fields and the files.
"""
from __future__ import annotations

import functools
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from lossyless_jax import checkpoint
from lossyless_jax import config as config_lib
from lossyless_jax import data as data_lib
from lossyless_jax import methods, parallel
from lossyless_jax.data import rd_sources
from lossyless_jax.entropy import one_shot
from lossyless_jax.evaluation import theory
from lossyless_jax.losses import distortions, nerd
from lossyless_jax.nets import generators


def base_config():
  """The authors' NERD settings (nerd.md §3.3, CPU budget of §6.3): B = 100, Adam(1e-3, β1 = 0.5),
  FC generator, Lagrangian mode, M = 4,000 per step, 3,000 steps, evaluation with M = 40,000 at the end."""
  c = config_lib.base_config()
  c.method = "nerd"
  c.num_steps = 3000
  c.log_every = 100
  c.eval_every = 3000  # evaluation streams M = 40,000 samples: only at the end
  c.checkpoint.every = 1000
  c.data.batch_size = 100  # B
  c.data.eval_batch_size = 1000
  c.data.options.eval_size = 5000  # held-out points of a synthetic source
  c.optim.name = "adam"
  c.optim.lr.value = 1e-3
  c.optim.b1 = 0.5  # the authors' Adam betas (0.5, 0.999)
  c.model.generator = "fc"
  c.model.latent_dim = 100
  c.loss.mode = "lagrangian"
  c.loss.num_samples = 4000  # M per training step: estimates are capped at log2 M ≈ 12 bits
  c.loss.distortion = "squared_error"
  c.loss.eval_num_samples = 40_000
  c.loss.eval_chunk_size = 4000
  return c


def _points(config):
  """(mode, values): the slopes or the target distortions, one per generator."""
  mode = config.loss.get("mode", "lagrangian")
  if mode == "lagrangian":
    values = tuple(float(b) for b in config.loss.betas)
    if not values or any(b >= 0 for b in values):
      raise ValueError(f"config.loss.betas: {values}; Lagrangian NERD needs slopes β̃ < 0")
  elif mode == "constrained":
    values = tuple(float(d) for d in config.loss.targets)
    if not values or any(d <= 0 for d in values):
      raise ValueError(f"config.loss.targets: {values}; constrained NERD needs target distortions D > 0")
  else:
    raise ValueError(f"config.loss.mode: {mode!r}; expected 'lagrangian' or 'constrained'")
  return mode, values


def _flat(batch):
  x = batch["x"] if "x" in batch else batch["image"]
  return x.reshape(x.shape[0], -1)


def generator_module(config, example):
  """The generator for data shaped like `example` (one flattened data point)."""
  m = config.model
  kind = m.get("generator", "fc")
  if kind == "fc":
    hidden = m.get("hidden", None)
    return generators.FCGenerator(out_dim=int(example.shape[-1]), hidden=tuple(hidden) if hidden else None,
                                  output_activation=m.get("output_activation", None),
                                  pre_activation_scale=float(m.get("pre_activation_scale", 1.0)))
  if kind == "dcgan":
    side = int(config.data.image_size) or 32
    return generators.DCGANGenerator(channels=int(m.get("channels", 32)), out_channels=int(m.get("out_channels", 1)),
                                     image_size=side)
  raise ValueError(f"config.model.generator: {kind!r}; expected 'fc' or 'dcgan'")


# TFDS image datasets of the paper (nerd.md §3.1) -> (channels, train images); images at 32×32 in [0, 1].
IMAGE_DATASETS = {"mnist": (1, 60_000), "fashion_mnist": (1, 60_000), "svhn_cropped": (3, 73_257)}


def image_config(c, arg: str, config_file: str) -> tuple[bool, int]:
  """Sets the image data and the DCGAN generator of nerd.md §3.1–3.2 on config `c`; returns
  (mock, number of training images).

  `arg`: '' (TFDS mnist), 'fashion_mnist', 'svhn_cropped', or 'mock' (mnist on `tfds.testing.mock_data`
  with a tiny generator: c_d = 4, latent 16). Images are resized (bilinear, as the authors' `Resize(32)`)
  to 32×32 in [0, 1]; the generator has latent m_z = 128 and width c_d = 32.
  """
  mock = arg == "mock"
  dataset = "mnist" if arg in ("", "mock") else arg
  if dataset not in IMAGE_DATASETS:
    raise ValueError(f"{config_file}: unknown arg {arg!r}; expected '' (mnist), "
                     f"{', '.join(repr(n) for n in IMAGE_DATASETS if n != 'mnist')} or 'mock'")
  c.data.name = f"tfds:{dataset}"
  c.data.image_size = 32
  c.model.generator = "dcgan"
  c.model.latent_dim = 16 if mock else 128  # m_z
  c.model.channels = 4 if mock else 32  # c_d
  c.model.out_channels = IMAGE_DATASETS[dataset][0]
  return mock, IMAGE_DATASETS[dataset][1]


def load_generator(workdir: str, config, example):
  """(params, non-trainable collections) of the generator of the finished run in `workdir` (e.g. a
  `wgan_gp` pretraining), from its last Orbax checkpoint; they must match the generator `config` builds."""
  if not os.path.isdir(os.path.join(workdir, "checkpoints", "latest")):
    raise FileNotFoundError(f"config.model.generator_workdir: {workdir!r} holds no checkpoints/latest; pretrain the "
                            f"generator first (python launch/main.py --config=configs/wgan_gp_mnist.py --workdir={workdir})")
  ckpt = checkpoint.Checkpointer(workdir, keep=1, keep_best=1)
  try:
    restored = ckpt.restore_latest(None)
  finally:
    ckpt.close()
  if restored is None:
    raise FileNotFoundError(f"config.model.generator_workdir: {workdir!r} has no complete checkpoint")
  state = restored[0]
  module = generator_module(config, example)
  fresh = jax.eval_shape(module.init, jax.random.PRNGKey(0), jnp.zeros((2, int(config.model.latent_dim))))
  loaded = {"params": state["params"], **{k: state["model_state"].get(k) for k in fresh if k != "params"}}
  shapes = lambda tree: {"/".join(k): tuple(np.shape(v)) for k, v in traverse_util.flatten_dict(tree).items()}
  want, got = shapes(fresh), shapes({k: v for k, v in loaded.items() if v is not None})
  if want != got:
    diff = sorted((k for k in set(want) | set(got) if want.get(k) != got.get(k)), key=lambda k: (k[:6] != "params", k))
    raise ValueError(f"config.model.generator_workdir: the generator in {workdir!r} does not match config.model "
                     f"(generator, latent_dim, channels, out_channels, hidden) and config.data.image_size: "
                     + "; ".join(f"{k}: pretrained {got.get(k)}, expected {want.get(k)}" for k in diff[:4]))
  loaded = jax.tree_util.tree_map(jnp.asarray, loaded)
  return loaded.pop("params"), loaded


def generate(module, params, state, z):
  """G(z) flattened to (M, dim), and the generator's new batch statistics (batch-stat BatchNorm)."""
  variables = {"params": params, **state}
  if state:
    y, new_state = module.apply(variables, z, train=True, mutable=list(state))
  else:
    y, new_state = module.apply(variables, z), state
  return y.reshape(y.shape[0], -1), new_state


def init(rng, batch, config):
  _, values = _points(config)
  x = _flat(batch)
  module = generator_module(config, x[0])
  workdir = config.model.get("generator_workdir", "")
  if workdir:  # every generator starts from the pretrained one (the authors' WGAN-GP init, nerd.md §3.2)
    params, state = load_generator(workdir, config, x[0])
    return jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (len(values),) + a.shape), (params, state))
  z = jnp.zeros((2, int(config.model.latent_dim)))
  variables = methods.jit_once(jax.vmap(lambda key: module.init(key, z)), jax.random.split(rng, len(values)))
  params = variables.pop("params")
  return params, dict(variables)


def loss(params, model_state, batch, rng, ctx):
  """Σ_k of the NERD dual of generator k (eq. (7) Lagrangian, or eq. (11) at the bisected β̃*_k)."""
  config = ctx.config
  mode, values = _points(config)
  x = _flat(batch)
  module = generator_module(config, x[0])
  num_samples = int(config.loss.num_samples)
  z = jax.random.normal(rng, (len(values), num_samples, int(config.model.latent_dim)))
  ys, new_state = jax.vmap(lambda p, s, zk: generate(module, p, s, zk))(params, model_state, z)
  distortion = distortions.get_distortion(config.loss.get("distortion", "squared_error"))
  dmats = jax.vmap(lambda y: distortion(x, y))(ys)
  point = jnp.asarray(values, dmats.dtype)
  if mode == "lagrangian":
    losses, readouts = jax.vmap(nerd.nerd_lagrangian_loss)(dmats, point)
  else:
    beta_min = float(config.loss.get("beta_min", -20.0))
    losses, readouts = jax.vmap(lambda d, t: nerd.nerd_constrained_loss(d, t, beta_min=beta_min))(dmats, point)
  metrics = {}
  for k in range(len(values)):
    metrics[f"R_bits/{k}"] = readouts["rate_bits"][k]
    metrics[f"D/{k}"] = readouts["d_hat"][k]
    if mode == "constrained":
      metrics[f"beta/{k}"] = readouts["beta"][k]
  return jnp.sum(losses), (metrics, new_state)


@functools.partial(jax.jit, static_argnums=(0, 2, 4))
def sample(module, variables, latent_dim, key, num):
  """G(z) of `num` latents drawn with `key`, flattened, batch-stat BatchNorm (the authors'); the variables
  are arguments, so every generator of one shape shares one compilation."""
  return generators.make_sample_fn(module, variables, latent_dim, train_bn=True, flatten=True)(key, num)


def _sample_fns(config, params, model_state, example):
  """`sample_fn(key, num)` of each generator (already compiled: pass `jit_sampler=False`)."""
  module = generator_module(config, example)
  latent = int(config.model.latent_dim)
  host_params, host_state = parallel.to_host(params), parallel.to_host(model_state)
  fns = []
  for k in range(len(_points(config)[1])):
    take = lambda tree: jax.tree_util.tree_map(lambda a: a[k], tree)
    variables = {"params": take(host_params), **take(host_state)}
    fns.append(functools.partial(sample, module, variables, latent))
  return fns


def readouts(config, params, model_state, x) -> list[dict]:
  """Chunked read-outs (D̂, R̂, …) of every generator on data `x` with M = `loss.eval_num_samples`."""
  mode, values = _points(config)
  num = int(config.loss.get("eval_num_samples", 40_000))
  kwargs = dict(chunk_size=int(config.loss.get("eval_chunk_size", 4000)),
                distortion=config.loss.get("distortion", "squared_error"), jit_sampler=False)
  key = jax.random.PRNGKey(config.seed + 1)
  out = []
  for k, sample_fn in enumerate(_sample_fns(config, params, model_state, x[0])):
    if mode == "lagrangian":
      out.append(nerd.nerd_readouts_chunked(x, sample_fn, key, values[k], num, **kwargs))
    else:
      out.append(nerd.solve_beta_chunked(x, sample_fn, key, values[k], num,
                                         beta_min=float(config.loss.get("beta_min", -20.0)), **kwargs))
  return out


def closed_form_bits(config):
  """D -> R(D) in bits for the closed-form sources of `rd_sources`, else None."""
  if config.data.name not in rd_sources.SOURCE_NAMES:
    return None
  options = {k: v for k, v in config.data.options.items() if k != "eval_size"}
  src = rd_sources.get_source(config.data.name, **options)
  if src.kind == "gaussian":
    return lambda d: theory.gaussian_rd(d, src.variances)
  if src.kind == "laplace":
    return lambda d: src.dim * theory.laplace_l1_rd(d / src.dim, src.alpha)
  return lambda d: src.dim * theory.bernoulli_hamming_rd(d / src.dim, src.p)


def _eval_data(batches, limit):
  xs = []
  for batch in batches:
    host = parallel.to_host(batch)
    xs.append(_flat(host)[host["mask"] > 0])
  x = np.concatenate(xs)
  return x[:limit] if limit else x


def evaluate(params, model_state, batches, ctx):
  config = ctx.config
  x = _eval_data(batches, int(config.loss.get("eval_points", 0)))
  exact = closed_form_bits(config)
  metrics, total = {}, 0.0
  for k, r in enumerate(readouts(config, params, model_state, x)):
    total += r["neg_log_mgf"] if config.loss.get("mode", "lagrangian") == "lagrangian" else r["rate_bits"]
    metrics[f"R_bits/{k}"], metrics[f"D/{k}"] = r["rate_bits"], r["d_hat"]
    metrics[f"near_ceiling/{k}"] = float(r["near_ceiling"])
    if exact is not None:
      metrics[f"gap_bits/{k}"] = r["rate_bits"] - float(exact(r["d_hat"]))
  metrics["loss"] = total
  return metrics


def _kmeans_points(config, x_eval):
  """(log2 K, D_K) of k-means vector quantizers fit on the train split (an operational upper bound)."""
  from sklearn.cluster import KMeans
  x_train = _flat(data_lib.load_arrays(config.data, "train"))
  points = []
  for num in config.loss.get("kmeans", ()):
    km = KMeans(n_clusters=int(num), n_init=3, random_state=config.seed).fit(x_train)
    d = np.sum((x_eval - km.cluster_centers_[km.predict(x_eval)]) ** 2, axis=1).mean()
    points.append((math.log2(num), float(d)))
  return points


def curve_checks(curve, kmeans=()) -> dict:
  """Checks of an R–D curve without a closed form (nerd.md §6.3 item 7), on the trusted points.

  R(D) is non-increasing and convex (eq. (1)): along decreasing |β̃|, D̂ must not fall and R̂ must not
  rise (`curve_monotone`); in D order the chord slopes ΔR̂/ΔD̂ must not fall (`curve_convex`, pairs
  closer than 1e-3·D_max skipped). As β̃ → 0⁻, R̂ → 0 and D̂ → D_max = E‖X − μ‖² (`zero_rate_reached`:
  R̂ < 0.05 bit and D̂ within 2 % of D_max at the smallest |β̃|). A k-means point (log2 K, D_K) lies
  above the curve if log2 K ≥ R̂ interpolated at D_K (None outside the curve's D range).
  """
  ok = ~np.asarray(curve["near_ceiling"], bool)
  beta, d, r = (np.asarray(curve[k], np.float64)[ok] for k in ("beta", "D", "R_bits"))
  order = np.argsort(beta)  # steepest slope first: D̂ rises and R̂ falls along it
  d, r = d[order], r[order]
  tol = 1e-3 * curve["D_max"]
  out = {"curve_monotone": bool(np.all(np.diff(d) > -tol) and np.all(np.diff(r) < 1e-3)),
         "zero_rate_R_bits": float(r[-1]), "zero_rate_D_over_D_max": float(d[-1] / curve["D_max"])}
  out["zero_rate_reached"] = out["zero_rate_R_bits"] < 0.05 and abs(out["zero_rate_D_over_D_max"] - 1) <= 0.02
  by_d = np.argsort(d)
  d, r = d[by_d], r[by_d]
  keep = np.concatenate([[True], np.diff(d) > tol])
  d, r = d[keep], r[keep]
  slopes = np.diff(r) / np.diff(d)
  out["curve_convex"] = bool(np.all(np.diff(slopes) > -1e-2 * np.abs(slopes[:-1])))
  if kmeans:
    curve_r = [float(np.interp(dk, d, r)) if d[0] <= dk <= d[-1] else None for _, dk in kmeans]
    out["kmeans_curve_R_bits"] = curve_r
    out["kmeans_above_curve"] = [None if c is None else bool(b >= c) for (b, _), c in zip(kmeans, curve_r)]
    inside = [a for a in out["kmeans_above_curve"] if a is not None]
    out["kmeans_all_above_curve"] = bool(inside) and all(inside)
  return out


def _plot(path, curve, exact, kmeans):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5, 3.6))
  d, r, flag = np.asarray(curve["D"]), np.asarray(curve["R_bits"]), np.asarray(curve["near_ceiling"], bool)
  if exact is not None:
    grid = np.linspace(max(min(d) * 0.8, 1e-6), max(d) * 1.2, 200)
    ax.plot(grid, [exact(g) for g in grid], "k-", lw=1, label="R(D), closed form")
  ax.plot(d[~flag], r[~flag], "o", label="NERD")
  if flag.any():
    ax.plot(d[flag], r[flag], "x", color="red", label="NERD, within 1 bit of log2 M (untrusted)")
  if kmeans:
    kb, kd = zip(*kmeans)
    ax.plot(kd, kb, "s", mfc="none", label="k-means VQ (log2 K)")
  ax.axhline(curve["log2_M"], ls="--", color="gray", lw=0.8, label=f"log2 M = {curve['log2_M']:.1f}")
  ax.set_xlabel("distortion D (per sample)")
  ax.set_ylabel("rate (bits per sample)")
  ax.set_title(f"NERD rate–distortion estimate, M = {curve['M']}")
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def _one_shot(config, params, model_state, x, curve, workdir) -> dict:
  """NERD-RCC of the eval points with each learned Q_Y into real files; checks the decoder's samples."""
  n_cand = int(config.loss.rcc_num_candidates)
  sources = x[: int(config.loss.get("rcc_sources", 1000))]
  out = {k: [] for k in ("rcc_bits", "rcc_D", "rcc_guarantee_bits", "rcc_decoded_exactly")}
  for k, sample_fn in enumerate(_sample_fns(config, params, model_state, x[0])):
    path = os.path.join(workdir, f"rcc_{k}.bin")
    encoded, info = one_shot.rcc_compress(
        sources, sample_fn, config.seed, curve["beta"][k], n_cand, max(curve["R_bits"][k], 0.0),
        method=config.loss.get("rcc_method", "pfr"), distortion=config.loss.get("distortion", "squared_error"),
        sources_per_codebook=int(config.loss.get("rcc_sources_per_codebook", 100)),
        path=path if jax.process_index() == 0 else None)
    decoded, _ = one_shot.rcc_decompress(encoded, sample_fn, config.seed)
    out["rcc_bits"].append(8.0 * len(encoded) / len(sources))
    out["rcc_D"].append(info["distortion"])
    out["rcc_guarantee_bits"].append(info["guarantee_bits"])
    out["rcc_decoded_exactly"].append(bool(np.array_equal(decoded, info["samples"])))
  out["rcc_log2_N"] = math.log2(n_cand)
  out["rcc_num_sources"] = len(sources)
  return out


def report(params, model_state, ctx):
  config = ctx.config
  split = config.eval_splits[0]
  x = _flat(data_lib.load_arrays(config.data, split))
  if config.loss.get("eval_points", 0):
    x = x[: int(config.loss.eval_points)]
  results = readouts(config, params, model_state, x)
  num = int(config.loss.get("eval_num_samples", 40_000))
  curve = {"mode": config.loss.get("mode", "lagrangian"), "M": num, "log2_M": math.log2(num),
           "beta": [float(r["beta"]) for r in results], "D": [float(r["d_hat"]) for r in results],
           "R_bits": [float(r["rate_bits"]) for r in results],
           "near_ceiling": [bool(r["near_ceiling"]) for r in results],
           "D_max": float(np.sum((x - x.mean(0)) ** 2, axis=1).mean()), "eval_points": int(x.shape[0])}
  if curve["mode"] == "constrained":
    curve["target_D"] = [float(t) for t in config.loss.targets]
  exact = closed_form_bits(config)
  if exact is not None:
    curve["R_exact_bits"] = [float(exact(d)) for d in curve["D"]]
    curve["gap_bits"] = [r - e for r, e in zip(curve["R_bits"], curve["R_exact_bits"])]
  kmeans = _kmeans_points(config, x) if config.loss.get("kmeans", ()) else []
  if kmeans:
    curve["kmeans_log2_K"], curve["kmeans_D"] = [p[0] for p in kmeans], [p[1] for p in kmeans]
  if exact is None:
    curve.update(curve_checks(curve, kmeans))
  if int(config.loss.get("rcc_num_candidates", 0)):
    curve.update(_one_shot(config, params, model_state, x, curve, ctx.workdir))
  if jax.process_index() == 0:
    with open(os.path.join(ctx.workdir, "rd_curve.json"), "w") as f:
      json.dump(curve, f, indent=1)
    _plot(os.path.join(ctx.workdir, "rd_curve.png"), curve, exact, kmeans)
    _print_table(curve)
  return curve


def _print_table(curve):
  has_exact = "R_exact_bits" in curve
  print(f"NERD ({curve['mode']}), M = {curve['M']} (log2 M = {curve['log2_M']:.2f} bits), {curve['eval_points']} points")
  print(f"{'beta':>9} {'D':>10} {'R_bits':>8}" + (f" {'R(D)':>8} {'gap':>7}" if has_exact else ""))
  for k in range(len(curve["D"])):
    row = f"{curve['beta'][k]:9.4g} {curve['D'][k]:10.4g} {curve['R_bits'][k]:8.3f}"
    if has_exact:
      row += f" {curve['R_exact_bits'][k]:8.3f} {curve['gap_bits'][k]:+7.3f}"
    print(row + ("  (near log2 M: untrusted)" if curve["near_ceiling"][k] else ""))
  if "curve_convex" in curve:
    print(f"monotone {curve['curve_monotone']}, convex {curve['curve_convex']}, at the smallest |beta| "
          f"R = {curve['zero_rate_R_bits']:.3f} bits, D/D_max = {curve['zero_rate_D_over_D_max']:.4f} "
          f"(D_max = {curve['D_max']:.4g})")
  for k, (bits, dk) in enumerate(zip(curve.get("kmeans_log2_K", ()), curve.get("kmeans_D", ()))):
    at = curve["kmeans_curve_R_bits"][k]
    where = "outside the curve's D range" if at is None else (
        f"curve R = {at:.3f}: " + ("above" if curve["kmeans_above_curve"][k] else "BELOW"))
    print(f"k-means log2 K = {bits:g}, D_K = {dk:.4g}: {where}")


METHOD = methods.register(methods.Method("nerd", init, loss, evaluate, report))
