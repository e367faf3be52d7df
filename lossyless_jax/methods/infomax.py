"""Noise-injected Deep InfoMax as a method of the loop (Butakov et al., "Efficient Distribution Matching
of Representations via Noise-Injected Deep InfoMax").

Objective (§3, Lemma 3.1): maximise I(f(X'); f(X) + Z) over the encoder f and the critic. X' is the
augmented view (additive input noise x + σ_aug·ξ, the paper's MNIST augmentation, and/or an image
augmentation spec of `data.augment`); f(X) is the clean view through the same encoder, normalised
(`nets.infomax.OutputNorm`: batch norm without affine parameters for the Gaussian target, a sigmoid
or Φ(BN(h)) for the uniform one) and Z is fresh noise on that branch only, N(0, σ²I) (Gaussian target)
or U[−ε, ε]^d (uniform). The two views go through the encoder in two calls, so each batch norm
standardises its own view (as two PyTorch calls would). The bound is InfoNCE (default), DV or NWJ
over the N×N critic matrix of the global batch (`losses.infomax`), with Table 2's concatenation MLP
critic or Thm 4.1's closed-form T* (``loss.critic = "gaussian"``, no parameters, Gaussian target).
Capacity: C = d/2·log(1 + 1/σ²) (Eq. (5)) or d·log(1 + 1/(2ε)) (Eq. (6)); σ = ε = 0 is noise-free.

§4 / Table 1: ``loss.objective = "simclr"`` (NT-Xent of `losses.infonce`, temperature 0.2) or
``"vicreg"`` (`losses.vicreg`, 25/25/1) on a ResNet18 + projector, two augmented views, the
projector output batch-normed without affine parameters and the noise added to the second view's
embedding before the loss (the paper does not say where; this keeps σ comparable with the DIM runs).
The CIFAR configs train with ``optim.name = "lars"`` (`optim.scale_by_lars`).

Config (`model`, checked by `validate`): ``encoder`` mlp | mnist_convnet | resnet18, ``hidden`` (MLP
widths), ``dim`` (d), ``target`` gauss | uniform | uniform_pit | none, ``projector`` (widths of the
SSL head, the last is d), ``resnet_width``, ``crop`` (centre crop side, 0: none), ``normalize_mean``
/ ``normalize_std`` (per channel, after augmentation), ``input_noise`` (σ_aug), ``augment`` (spec).
Config (`loss`): ``objective`` infonce | dv | nwj | simclr | vicreg, ``critic`` mlp | gaussian,
``critic_hidden``, ``sigma``, ``epsilon``, ``temperature``, ``vicreg_coefs``; evaluation: ``eval_subsample`` × ``eval_repetitions`` (the
normality bootstrap), ``eval_mi_batches`` (batches of N averaged for `mi_nats`), ``eval_probe_epochs``.

The report (`report.json`), on noise-free embeddings f(x) (batch norm with running statistics) of the
train and evaluation splits: ``capacity_nats`` (None when noise-free), ``log_batch_nats`` (log N),
``mi_nats`` ± ``mi_sem_nats`` (the bound on fresh training batches of N, batch statistics as in
training), ``ceiling_nats`` = min(log N, C), ``gap_nats``; ``mi_logged_max_nats`` and
``mi_logged_max_excess_nats`` (the largest MI of any line of `metrics.jsonl` and its largest excess
over min(log N_line, C)), ``mi_within_ceiling`` (that excess ≤ 0.05 nats); the mean p-values
``shapiro_p``, ``dagostino_p``, ``henze_zirkler_p`` (uniform targets: after Φ^{-1}); moments
(``mean``, ``std``, ``skew``, ``excess_kurtosis``, ``max_abs_correlation``); ``gnb_auc``, ``knn_auc``,
``mlp_auc``, ``knn_accuracy``, ``silhouette`` (train → first eval split); for uniform targets the
per-coordinate ``ks_uniform_stat`` / ``ks_uniform_p``, ``histogram``, ``edge_low`` / ``edge_high``;
for SSL objectives ``linear_probe_accuracy`` on the backbone features. Plots: ``scatter.png`` (Fig. 2),
``histograms.png`` (uniform targets).
"""
from __future__ import annotations

import json
import math
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lossyless_jax import config as config_lib
from lossyless_jax import data as data_lib
from lossyless_jax import methods, parallel, plotting
from lossyless_jax.config import NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, each, one_of
from lossyless_jax.data import augment as augment_lib
from lossyless_jax.evaluation import normality
from lossyless_jax.losses import infomax, infonce, vicreg
from lossyless_jax.nets import infomax as nets
from lossyless_jax.nets.mlp import MLP
from lossyless_jax.nets.resnet import ResNet18

ENCODERS = ("mlp", "mnist_convnet", "resnet18")
OBJECTIVES = infomax.BOUNDS + ("simclr", "vicreg")
CRITICS = ("mlp", "gaussian")
MODEL = dict(encoder="mlp", hidden=(256, 128), dim=2, target="gauss", projector=(), resnet_width=64, crop=0,
             normalize_mean=(), normalize_std=(), input_noise=0.3, augment="")
LOSS = dict(objective="infonce", critic="mlp", critic_hidden=(256, 256), sigma=0.5, epsilon=0.0, temperature=0.2,
            vicreg_coefs=(25.0, 25.0, 1.0),
            eval_subsample=200, eval_repetitions=200, eval_mi_batches=20, eval_probe_epochs=100)
MODEL_CHECKS = dict(encoder=one_of(*ENCODERS), hidden=each(POSITIVE_INT), dim=POSITIVE_INT,
                    target=one_of(*nets.TARGETS), projector=each(POSITIVE_INT), resnet_width=POSITIVE_INT,
                    crop=NON_NEGATIVE_INT, normalize_mean=each(NON_NEGATIVE), normalize_std=each(POSITIVE),
                    input_noise=NON_NEGATIVE)
LOSS_CHECKS = dict(objective=one_of(*OBJECTIVES), critic=one_of(*CRITICS), critic_hidden=each(POSITIVE_INT),
                   sigma=NON_NEGATIVE, epsilon=NON_NEGATIVE, temperature=POSITIVE, vicreg_coefs=each(NON_NEGATIVE),
                   eval_subsample=(lambda v: config_lib.is_int(v) and v >= 20, "an integer >= 20"),
                   **dict.fromkeys(("eval_repetitions", "eval_mi_batches"), POSITIVE_INT),
                   eval_probe_epochs=NON_NEGATIVE_INT)
MI_SLACK_NATS = 0.05  # acceptance of the logged estimates against min(log N, C)


def _section(defaults) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(defaults))


def base_config():
  """The digits-sized defaults (CPU): MLP encoder 64 → 256 → 128 → d = 2, Gaussian target, σ = 0.5,
  input-noise augmentation 0.3, Table 2's critic, InfoNCE, Adam 1e-3, batch 256, 2,000 steps."""
  c = config_lib.base_config()
  c.method = "infomax"
  c.num_steps = 2000
  c.log_every = 10
  c.eval_every = 500
  c.checkpoint.every = 500
  c.report_on = "last"  # nothing is selected on the test split
  c.data.batch_size = 256
  c.data.eval_batch_size = 360
  c.optim.name = "adam"
  c.optim.lr.value = 1e-3
  c.model = _section(MODEL)
  c.loss = _section(LOSS)
  return c


def validate(config) -> None:
  """Raises ConfigError for an unknown or ill-typed `model`/`loss` field or an unsupported combination."""
  config_lib.check_section(config.model, _section(MODEL), "model")
  config_lib.check_section(config.loss, _section(LOSS), "loss")
  config_lib.check_fields(config.model, MODEL_CHECKS, "model")
  config_lib.check_fields(config.loss, LOSS_CHECKS, "loss")
  m, l = config.model, config.loss
  if l.critic == "gaussian" and (m.target != "gauss" or l.sigma <= 0 or l.objective not in infomax.BOUNDS):
    raise config_lib.ConfigError(f"config.loss.critic: 'gaussian' (Thm 4.1's T*) needs model.target 'gauss', "
                                 f"loss.sigma > 0 and a DIM objective; got {m.target!r}, {l.sigma}, {l.objective!r}")
  if _noise(config)[0] == "uniform" and l.sigma:
    raise config_lib.ConfigError(f"config.loss.sigma: {l.sigma}; the uniform target {m.target!r} takes uniform noise "
                                 "of half-width loss.epsilon (set loss.sigma = 0)")
  if _noise(config)[0] == "gaussian" and l.epsilon:
    raise config_lib.ConfigError(f"config.loss.epsilon: {l.epsilon}; the target {m.target!r} takes Gaussian noise "
                                 "of scale loss.sigma (set loss.epsilon = 0)")
  if len(m.normalize_mean) != len(m.normalize_std):
    raise config_lib.ConfigError(f"config.model.normalize_mean / normalize_std: {tuple(m.normalize_mean)} and "
                                 f"{tuple(m.normalize_std)} differ in length")
  ssl = l.objective in ("simclr", "vicreg")
  if ssl != bool(m.projector) or ssl != (m.encoder == "resnet18"):
    raise config_lib.ConfigError(f"config.model.projector / encoder: SimCLR and VICReg take a resnet18 encoder and a "
                                 f"projector, the DIM objectives neither; got objective {l.objective!r}, encoder "
                                 f"{m.encoder!r}, projector {tuple(m.projector)}")
  if m.augment:
    augment_lib.build_augment(m.augment)  # a bad spec fails here


def _noise(config) -> tuple[str, float]:
  """(noise kind, scale): Gaussian σ for the gauss / none targets, uniform ε for the uniform ones."""
  if config.model.target in ("uniform", "uniform_pit"):
    return "uniform", float(config.loss.epsilon)
  return "gaussian", float(config.loss.sigma)


def embedding_dim(config) -> int:
  return int(config.model.projector[-1]) if config.model.projector else int(config.model.dim)


def capacity(config) -> float | None:
  """C in nats of the configured noise on d dimensions (Eq. (5) or (6)); None without noise."""
  kind, scale = _noise(config)
  return None if scale == 0 else infomax.noise_capacity(kind, scale, embedding_dim(config))


def encoder_module(config) -> nets.Embedding:
  m = config.model
  if m.encoder == "mlp":
    trunk = MLP(tuple(m.hidden), int(m.dim), activation="leaky_relu")
  elif m.encoder == "mnist_convnet":
    trunk = nets.MnistConvNet(int(m.dim))
  else:
    trunk = ResNet18(512, width=int(m.resnet_width))
  projector = tuple(m.projector)
  head = MLP(projector[:-1], projector[-1], norm="batch") if projector else None
  return nets.Embedding(trunk, m.target, head)


def critic_module(config) -> nets.PairCritic:
  return nets.PairCritic(tuple(config.loss.critic_hidden))


def _images(config, x):
  """Centre crop and per-channel normalisation of a batch of images (flat features pass through)."""
  m = config.model
  if m.crop and x.ndim == 4 and x.shape[1] > m.crop:
    top, left = (x.shape[1] - m.crop) // 2, (x.shape[2] - m.crop) // 2
    x = x[:, top:top + m.crop, left:left + m.crop]
  if m.normalize_mean:
    x = (x - jnp.asarray(m.normalize_mean, x.dtype)) / jnp.asarray(m.normalize_std, x.dtype)
  return x


def _raw(batch):
  return batch["image"] if "image" in batch else batch["x"]


def _view(config, key, x):
  """X' = (augment spec) then + σ_aug·ξ, before the crop and normalisation."""
  k_spec, k_noise = jax.random.split(key)
  if config.model.augment:
    x = augment_lib.augment_batch(k_spec, x, augment_lib.build_augment(config.model.augment))
  if config.model.input_noise:
    x = x + float(config.model.input_noise) * jax.random.normal(k_noise, x.shape, x.dtype)
  return x


def init(rng, batch, config):
  k_enc, k_critic = jax.random.split(rng)
  x = _images(config, jnp.asarray(_raw(batch)))[:2]
  variables = methods.jit_once(lambda k: encoder_module(config).init(k, x, train=False), k_enc)
  params = {"encoder": variables.pop("params")}
  if config.loss.objective in infomax.BOUNDS and config.loss.critic == "mlp":
    e = jnp.zeros((2, embedding_dim(config)))
    params["critic"] = methods.jit_once(lambda k: critic_module(config).init(k, e, e), k_critic)["params"]
  return params, dict(variables)


def _embed(config, params, state, x, train):
  """(features, f(x), new state) of images already cropped and normalised."""
  variables = {"params": params["encoder"], **state}
  if train:
    (h, f), new = encoder_module(config).apply(variables, x, train=True, features=True, mutable=list(state))
    return h, f, {**state, **new}
  h, f = encoder_module(config).apply(variables, x, train=False, features=True)
  return h, f, state


def scores(config, params, u, y):
  """The (N, N) critic matrix T(u_i, y_j) of the configured critic."""
  if config.loss.critic == "gaussian":
    return infomax.gaussian_critic(u, y, float(config.loss.sigma))
  return critic_module(config).apply({"params": params["critic"]}, u, y)


def objective(config, params, state, x, key, train=True):
  """(loss, metrics, new state) on a batch of raw inputs ``x``: the negative bound for DIM objectives
  (metrics ``mi_nats``, ``log_n``), the SimCLR / VICReg loss otherwise."""
  k_view, k_noise, k_view2 = jax.random.split(key, 3)
  kind, scale = _noise(config)
  obj = config.loss.objective
  if obj in infomax.BOUNDS:
    _, f, state = _embed(config, params, state, _images(config, x), train)
    _, u, state = _embed(config, params, state, _images(config, _view(config, k_view, x)), train)
    y = infomax.inject_noise(k_noise, f, kind, scale)
    mi = infomax.mi_bound(scores(config, params, u, y), obj)
    return -mi, {"mi_nats": mi, "log_n": jnp.float32(math.log(x.shape[0]))}, state
  _, z1, state = _embed(config, params, state, _images(config, _view(config, k_view, x)), train)
  _, z2, state = _embed(config, params, state, _images(config, _view(config, k_view2, x)), train)
  z2 = infomax.inject_noise(k_noise, z2, kind, scale)
  if obj == "simclr":
    value, m = infonce.nt_xent(z1, z2, temperature=float(config.loss.temperature))
    return value, {"infonce_accuracy": m["infonce_accuracy"]}, state
  value, m = vicreg.vicreg(z1, z2, *map(float, config.loss.vicreg_coefs))
  return value, m, state


def loss(params, model_state, batch, rng, ctx):
  config = ctx.config
  value, metrics, state = objective(config, params, model_state, jnp.asarray(_raw(batch)), rng)
  return value, (metrics, state)


_COMPILED: dict = {}


def _jitted(config, name: str):
  """The jitted `features` (noise-free f(x), running statistics) or `objective` (batch statistics, the
  state update dropped) of `config`, compiled once per config."""
  key = (json.dumps(config.to_dict(), sort_keys=True, default=str), name)
  if key not in _COMPILED:
    if name == "features":
      def fn(params, state, x):
        h, f, _ = _embed(config, params, state, _images(config, x), False)
        return h, f
    else:
      def fn(params, state, x, rng):
        value, metrics, _ = objective(config, params, state, x, rng, train=True)
        return value, metrics
    _COMPILED[key] = jax.jit(fn)
  return _COMPILED[key]


def _real_rows(batch):
  host = parallel.to_host(batch)
  keep = host["mask"] > 0
  return {k: v[keep] for k, v in host.items() if k != "mask"}


def evaluate(params, model_state, batches, ctx):
  """The objective on the eval split's batches, with fixed noise keys and, as in training, batch statistics
  (the bound of Eq. (5) holds for unit-variance f; the running statistics only approximate it)."""
  config = ctx.config
  params, model_state = parallel.to_host(params), parallel.to_host(model_state)
  totals, count = {}, 0
  for i, batch in enumerate(batches):
    x = _raw(_real_rows(batch))
    if len(x) < 2:
      continue
    value, metrics = _jitted(config, "objective")(params, model_state, jnp.asarray(x),
                                                       jax.random.PRNGKey(config.seed + 1000 + i))
    for k, v in {"loss": value, **metrics}.items():
      totals[k] = totals.get(k, 0.0) + float(v) * len(x)
    count += len(x)
  return {k: v / count for k, v in totals.items()}


# ------------------------------------------------------------------------------------------------
# Report.
# ------------------------------------------------------------------------------------------------

def embeddings(config, params, state, x, chunk: int = 1024):
  """(backbone features, f(x)) of a whole split, noise-free, BN with running statistics (float64)."""
  hs, fs = [], []
  for s in range(0, len(x), chunk):
    h, f = _jitted(config, "features")(params, state, jnp.asarray(x[s:s + chunk]))
    hs.append(np.asarray(h, np.float64))
    fs.append(np.asarray(f, np.float64))
  return np.concatenate(hs), np.concatenate(fs)


def _mi_on_batches(config, params, state, x) -> tuple[float, float]:
  """Mean and standard error of the bound over `eval_mi_batches` random batches of N training inputs, with
  fresh views and noise and batch statistics (the training objective's quantity; no state update)."""
  n = min(int(config.data.batch_size), len(x))
  rng = np.random.default_rng(config.seed + 17)
  values = []
  for i in range(int(config.loss.eval_mi_batches)):
    batch = jnp.asarray(x[rng.choice(len(x), n, replace=False)])
    _, metrics = _jitted(config, "objective")(params, state, batch, jax.random.PRNGKey(config.seed + 5000 + i))
    values.append(float(metrics["mi_nats"]))
  values = np.asarray(values)
  return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0


def logged_mi_check(metrics_path: str, capacity_nats: float | None) -> dict:
  """Largest MI estimate over every line of `metrics.jsonl` that has one, and its largest excess over
  min(log N, C) of that line (N from its ``log_n``); ``mi_within_ceiling``: excess ≤ MI_SLACK_NATS."""
  lines = []
  if os.path.exists(metrics_path):
    with open(metrics_path) as f:
      lines = [r for r in map(json.loads, f) if "mi_nats" in r and "log_n" in r]
  if not lines:
    return {}
  cap = math.inf if capacity_nats is None else capacity_nats
  excess = [r["mi_nats"] - min(r["log_n"], cap) for r in lines]
  return {"mi_logged_max_nats": max(r["mi_nats"] for r in lines), "mi_logged_max_excess_nats": max(excess),
          "mi_logged_lines": len(lines), "mi_within_ceiling": bool(max(excess) <= MI_SLACK_NATS)}


def _plots(workdir, config, f, labels, uniform_heads, out):
  fig, ax = plotting.subplots(figsize=(4.6, 4.2))
  pts = ax.scatter(f[:, 0], f[:, 1] if f.shape[1] > 1 else np.zeros(len(f)), c=labels, cmap="tab10", s=3, alpha=0.7)
  fig.colorbar(pts, ax=ax, label="class")
  kind, scale = _noise(config)
  cap = out.get("capacity_nats")
  stats = ", ".join(f"{name} {out[k]:.2f}" for name, k in (("Î", "mi_nats"), ("HZ p", "henze_zirkler_p"),
                                                            ("kNN AUC", "knn_auc")) if out.get(k) is not None)
  ax.set_title(f"f(x) of {len(f)} digits (train + eval), target {config.model.target}, "
               f"{'σ' if kind == 'gaussian' else 'ε'} = {scale:g}\n"
               f"C = {'∞' if cap is None or not math.isfinite(cap) else f'{cap:.2f}'} nats" + (f"; {stats}" if stats else ""),
               fontsize=8)
  ax.set_aspect("equal")
  plotting.save(fig, os.path.join(workdir, "scatter.png"), dpi=120)
  if uniform_heads is None:
    return
  d = uniform_heads.shape[1]
  fig, axes = plotting.subplots(1, d, figsize=(3.2 * d, 2.6), squeeze=False)
  for j in range(d):
    axes[0, j].hist(uniform_heads[:, j], bins=20, range=(0, 1), color="C0")
    axes[0, j].axhline(len(uniform_heads) / 20, color="k", ls="--", lw=0.8, label="U(0, 1)")
    ks = out.get("ks_uniform_stat")
    axes[0, j].set_title(f"coordinate {j}" + (f": KS {ks[j]:.3f}, p {out['ks_uniform_p'][j]:.2g}" if ks else ""),
                         fontsize=9)
  axes[0, 0].legend(fontsize=7)
  fig.suptitle(f"marginals of the {config.model.target} head (U(0, 1) is flat)", fontsize=9)
  plotting.save(fig, os.path.join(workdir, "histograms.png"), dpi=120)


def report(params, model_state, ctx):
  config = ctx.config
  params, model_state = parallel.to_host(params), parallel.to_host(model_state)
  splits = {s: data_lib.load_arrays(config.data, s) for s in dict.fromkeys(("train", *config.eval_splits))}
  emb = {s: embeddings(config, params, model_state, _raw(a)) for s, a in splits.items()}
  test = config.eval_splits[0]
  cap = capacity(config)
  out = {"target": config.model.target, "objective": config.loss.objective, "critic": config.loss.critic,
         "noise": _noise(config)[0], "noise_scale": _noise(config)[1], "dim": embedding_dim(config),
         "capacity_nats": cap, "log_batch_nats": math.log(config.data.batch_size)}
  if config.loss.objective in infomax.BOUNDS:
    out["mi_nats"], out["mi_sem_nats"] = _mi_on_batches(config, params, model_state, _raw(splits["train"]))
    out.update(normality.mi_against_capacity(out["mi_nats"], cap, int(config.data.batch_size)))
  if ctx.workdir:
    out.update(logged_mi_check(os.path.join(ctx.workdir, "metrics.jsonl"), cap))
  f_all = np.concatenate([emb[s][1] for s in splits])
  uniform = config.model.target in ("uniform", "uniform_pit")
  gauss = normality.gaussianize(f_all) if uniform else f_all
  out.update(normality.bootstrap_pvalues(gauss, config.seed, int(config.loss.eval_subsample),
                                         int(config.loss.eval_repetitions)))
  out.update(normality.moments(gauss))
  if uniform:
    out.update(normality.uniform_marginals(f_all))
  labels = {s: np.asarray(a["label"]) for s, a in splits.items()}
  out.update(normality.downstream(emb["train"][1], labels["train"], emb[test][1], labels[test], config.seed))
  if config.loss.objective in ("simclr", "vicreg") and config.loss.eval_probe_epochs:
    from lossyless_jax.evaluation import probes
    probe = probes.train_linear_probe(jax.random.PRNGKey(config.seed), emb["train"][0], labels["train"],
                                      emb[test][0], labels[test], epochs=int(config.loss.eval_probe_epochs))
    out["linear_probe_accuracy"] = probe.test_accuracy
  if ctx.workdir and jax.process_index() == 0:
    _plots(ctx.workdir, config, f_all, np.concatenate([labels[s] for s in splits]), f_all if uniform else None, out)
  return out


def summary(rep: dict, workdir: str = "") -> str:
  """The printed tables: the bound against its ceiling, the normality tests, one row per embedding
  coordinate (its moments; for uniform targets the KS test and the mass at the edges) and the
  downstream scores; the same values as ``report.json``."""
  f = lambda v, spec=".3f": "-" if v is None else format(v, spec)
  lines = [f"InfoMax {rep['objective']} ({rep['critic']} critic), {rep['noise']} noise {f(rep['noise_scale'], 'g')}, "
           f"target {rep['target']}, d = {rep['dim']}"]
  if "mi_nats" in rep:
    lines.append(f"bound {f(rep['mi_nats'])} ± {f(rep['mi_sem_nats'])} nats (20 training batches); capacity C = "
                 f"{f(rep['capacity_nats'])}, log N = {f(rep['log_batch_nats'])}, ceiling min(log N, C) = "
                 f"{f(rep['ceiling_nats'])}, gap {f(rep['gap_nats'])}; every logged value within its ceiling + 0.05: "
                 f"{rep.get('mi_within_ceiling', '-')}")
  lines.append(f"normality, mean p over subsamples: Shapiro–Wilk {f(rep.get('shapiro_p'))}, D'Agostino–Pearson "
               f"{f(rep.get('dagostino_p'))}, Henze–Zirkler {f(rep.get('henze_zirkler_p'))}; max |correlation| "
               f"{f(rep.get('max_abs_correlation'))}")
  uniform = "ks_uniform_stat" in rep
  lines.append(f"{'coord':>5} {'mean':>8} {'std':>8} {'skew':>8} {'ex. kurt':>8}"
               + (f" {'KS stat':>8} {'KS p':>9} {'<0.02':>7} {'>0.98':>7}" if uniform else ""))
  for j in range(len(rep.get("mean", ()))):
    row = (f"{j:>5} {rep['mean'][j]:>8.3f} {rep['std'][j]:>8.3f} {rep['skew'][j]:>8.3f} "
           f"{rep['excess_kurtosis'][j]:>8.3f}")
    if uniform:
      row += (f" {rep['ks_uniform_stat'][j]:>8.3f} {rep['ks_uniform_p'][j]:>9.2g} {rep['edge_low'][j]:>7.3f}"
              f" {rep['edge_high'][j]:>7.3f}")
    lines.append(row)
  lines.append(f"downstream (train -> test): AUC kNN {f(rep.get('knn_auc'))}, MLP {f(rep.get('mlp_auc'))}, GNB "
               f"{f(rep.get('gnb_auc'))}; kNN accuracy {f(rep.get('knn_accuracy'))}; silhouette {f(rep.get('silhouette'))}"
               + (f"; linear probe {f(rep['linear_probe_accuracy'])}" if "linear_probe_accuracy" in rep else ""))
  lines.append("legend: nats; moments of the embedding" + (" after Φ^{-1} (uniform target)" if uniform else "")
               + "; plots scatter.png" + (", histograms.png" if uniform else ""))
  return "\n".join(lines)


METHOD = methods.register(methods.Method("infomax", init, loss, evaluate, report, validate=validate,
                                         rerun_safe=("loss.eval_",), summary=summary))
