"""Method ``"gray_wyner"``: the learnable Gray-Wyner network trained by the loop (Gray-Wyner paper §3–§4).

Loss (§3.2 Eq. 12 divided by λ, §3.3 Eq. 15; `losses.gray_wyner.lagrangian`)::

    L = η (β R0 + R1 + R2) + d1 + d2 + w_aux MSE(Y0¹, Y0²) [+ w_rec (RMSE_rec,1 + RMSE_rec,2)]

with rates in bits per input pixel, Independent's ``η(R1 + R2)`` and Joint's ``η R_Y`` (no β).
Task heads train jointly with the codec: on the synthetic source (§4.1) ``d_i`` is the RMSE of the
linear-regression target ``Z_i``; on the coloured digits (§4.2) ``d1`` is the digit's and ``d2``
the colour's cross-entropy (accuracies logged); on Cityscapes (§4.3) ``d1 = 19·CE`` of the frozen
segmentation network and ``d2`` the disparity RMSE in pixels of the frozen depth network
(`methods.gray_wyner.cityscapes`; their variables are the non-trainable ``model_state``), with mIoU
and macro accuracy from the split's confusion matrix. Evaluation gives ``R0 … Rr``, ``bpp_scaled``,
``d1``, ``d2`` and the model-selection objective ``rate_distortion = bpp_scaled + d1 + d2`` (the
authors' validation objective for these two sources), which the configs monitor on the validation
split. The report (`report`) codes the test split into real files.

Config ``model``: ``codec`` (shared | separated | combined | independent | joint), ``transform``
(conv | pixel_shuffle), ``latent_channels`` (E), ``channels`` (the three analysis widths),
``num_blocks`` (ResBlocks per stack), ``res_kernel``, ``head_hidden`` (MLP head width; None: the
flattened input size), ``num_classes``. Config ``loss``: ``eta``, ``eta_warmup_steps`` (the training
loss's η ramped linearly from 0 over that many steps; 0, the paper's constant η, by default),
``beta``, ``aux_weight`` (γ), ``aux_scaled_by_eta``, ``recon_weight``, ``recon_scale``; report-only
``code_images`` (test images coded into files, 0: all) and ``rate_tolerance`` (relative gap allowed
between coded and estimated bits). The source (``config.data.name``) picks the task: ``gray_wyner_synthetic``,
``coloured_digits`` or ``cityscapes`` (which also reads the ``tasks`` section).
"""
from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from lossyless_jax import config as config_lib
from lossyless_jax import methods, parallel
from lossyless_jax.config import NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, each, one_of, optional
from lossyless_jax.entropy.rates import nats_to_bits, rate_nats
from lossyless_jax.losses import gray_wyner as gw_loss
from lossyless_jax.methods.gray_wyner import cityscapes as gw_cityscapes
from lossyless_jax.methods.gray_wyner import model as gw_model

MODEL = dict(codec="shared", transform="conv", latent_channels=6, channels=(24, 48, 192), num_blocks=3,
             res_kernel=3, head_hidden=None, num_classes=10)
LOSS = dict(eta=1.0, eta_warmup_steps=0, beta=1.0, aux_weight=1.0, aux_scaled_by_eta=False, recon_weight=0.0,
            recon_scale=255.0, code_images=0, rate_tolerance=0.02)
# data source -> (task, input channels M, input key)
SOURCES = {"gray_wyner_synthetic": ("synthetic", 2, "x"), "coloured_digits": ("coloured_digits", 3, "image"),
           "cityscapes": ("cityscapes", 3, "image")}
MODEL_CHECKS = dict(codec=one_of(*gw_model.CODECS), transform=one_of(*gw_model.TRANSFORMS),
                    latent_channels=POSITIVE_INT, channels=each(POSITIVE_INT), num_blocks=POSITIVE_INT,
                    res_kernel=POSITIVE_INT, head_hidden=optional(POSITIVE_INT), num_classes=POSITIVE_INT)
LOSS_CHECKS = dict(eta=NON_NEGATIVE, eta_warmup_steps=NON_NEGATIVE_INT, beta=NON_NEGATIVE, aux_weight=NON_NEGATIVE,
                   recon_weight=NON_NEGATIVE, recon_scale=POSITIVE, code_images=NON_NEGATIVE_INT,
                   rate_tolerance=NON_NEGATIVE)


def _section(defaults) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  for key, value in defaults.items():
    c[key] = ml_collections.FieldReference(None, field_type=int) if key == "head_hidden" else value
  return c


def base_config():
  """Table 1 of the paper where it applies to these sources: Adam (0.9, 0.999), lr 1e-4, weight
  decay 0, global-norm clipping 1, batch 100; the configs shrink steps and sizes for CPU."""
  c = config_lib.base_config()
  c.method = "gray_wyner"
  c.data.batch_size = 100
  c.data.eval_batch_size = 100
  c.optim.name = "adam"
  c.optim.lr.value = 1e-4
  c.optim.clip_norm = 1.0
  c.eval_splits = ("validation",)
  c.monitor = "validation/rate_distortion"
  c.model = _section(MODEL)
  c.loss = _section(LOSS)
  return c


def source(config) -> tuple[str, int, str]:
  name = config.data.name
  if name not in SOURCES:
    raise config_lib.ConfigError(f"config.data.name: {name!r}; method 'gray_wyner' runs on "
                                 f"{', '.join(map(repr, SOURCES))}")
  return SOURCES[name]


def validate(config) -> None:
  """Raises ConfigError for an unknown or ill-typed field, or a codec the source cannot run."""
  config_lib.check_section(config.model, _section(MODEL), "model")
  config_lib.check_section(config.loss, _section(LOSS), "loss")
  config_lib.check_fields(config.model, MODEL_CHECKS, "model")
  config_lib.check_fields(config.loss, LOSS_CHECKS, "loss")
  task, m, _ = source(config)
  e = int(config.model.latent_channels)
  if e % 2:
    raise config_lib.ConfigError(f"config.model.latent_channels: {e}; E must be even (C = E/2 per block, §3.5)")
  if len(config.model.channels) != 3:
    raise config_lib.ConfigError(f"config.model.channels: {tuple(config.model.channels)}; expected three widths "
                                 "(paper: 24, 48, 192)")
  if config.model.transform == "pixel_shuffle" and e != 256 * m:
    raise config_lib.ConfigError(f"config.model.latent_channels: {e}; the pixel-shuffle transforms (App. D.3) "
                                 f"need E = 256·M = {256 * m} for M = {m} input channels")
  if task == "coloured_digits" and config.model.num_classes != 10:
    raise config_lib.ConfigError("config.model.num_classes: the coloured digits have 10 digits and 10 colours")
  if task == "cityscapes":
    gw_cityscapes.check(config)


@functools.lru_cache(maxsize=None)
def _module_of(codec, e, m, transform, channels, num_blocks, res_kernel, task, head_hidden, num_classes):
  return gw_model.GrayWyner(codec=codec, latent_channels=e, input_channels=m, transform=transform,
                            channels=channels, num_blocks=num_blocks, res_kernel=res_kernel, task=task,
                            head_hidden=head_hidden, num_classes=num_classes)


def module(config) -> gw_model.GrayWyner:
  """The codec of ``config`` (one instance per distinct configuration, so jitted functions cache)."""
  mc = config.model
  task, m, _ = source(config)
  hidden = mc.get("head_hidden", None)
  return _module_of(mc.codec, int(mc.latent_channels), m, mc.transform, tuple(int(c) for c in mc.channels),
                    int(mc.num_blocks), int(mc.res_kernel), task, None if hidden is None else int(hidden),
                    int(mc.num_classes))


def inputs(config, batch) -> jax.Array:
  return jnp.asarray(batch[source(config)[2]], jnp.float32)


def _rmse(pred, target):
  mse = jnp.mean(jnp.square(pred - target).reshape(pred.shape[0], -1), axis=-1)
  pos = mse > 0
  return jnp.where(pos, jnp.sqrt(jnp.where(pos, mse, 1.0)), 0.0)


def task_terms(task: str, outputs, batch) -> tuple[jax.Array, jax.Array, dict]:
  """Per-example ``(d1, d2, extra metrics)``: RMSE of ``Z1, Z2`` (synthetic, §4.1), the
  cross-entropies of digit and colour with their accuracies (coloured digits, §4.2), or 19·CE and
  the disparity RMSE with the confusion counts (Cityscapes, §4.3)."""
  o1, o2 = outputs
  if task == "synthetic":
    d1, d2 = _rmse(o1, batch["z1"]), _rmse(o2, batch["z2"])
    return d1, d2, {"rmse_1": d1, "rmse_2": d2}
  if task == "cityscapes":
    return gw_cityscapes.per_image(outputs, batch)
  y1, y2 = batch["label"].astype(jnp.int32), batch["colour"].astype(jnp.int32)
  d1 = optax.softmax_cross_entropy_with_integer_labels(o1, y1)
  d2 = optax.softmax_cross_entropy_with_integer_labels(o2, y2)
  return d1, d2, {"acc_digit": (jnp.argmax(o1, -1) == y1).astype(jnp.float32),
                  "acc_colour": (jnp.argmax(o2, -1) == y2).astype(jnp.float32)}


def init(rng, batch, config):
  x = inputs(config, batch)[:2]
  rng, task_rng = jax.random.split(rng)
  variables = methods.jit_once(module(config).init, rng, x)
  model_state = gw_cityscapes.init_state(config, task_rng, x) if source(config)[0] == "cityscapes" else {}
  return variables["params"], model_state


def task_outputs(config, model_state, outputs):
  """The codec's head outputs, or on Cityscapes the frozen task networks' outputs on ``X̂1, X̂2``."""
  if source(config)[0] == "cityscapes":
    return gw_cityscapes.predict(config, model_state, outputs)
  return outputs


def _forward(config, params, model_state, batch):
  mod = module(config)
  x = inputs(config, batch)
  latents, cands, lik, recons, outputs = mod.apply({"params": params}, x)
  outputs = task_outputs(config, model_state, outputs)
  d1, d2, extra = task_terms(source(config)[0], outputs, batch)
  return x, latents, cands, lik, recons, outputs, d1, d2, extra


def rate_multiplier(loss_config, step):
  """η of the training loss at ``step``: ramped linearly from 0 over ``eta_warmup_steps`` (0: the
  paper's constant η). The agreement weight ``w_aux = η`` of ``aux_scaled_by_eta`` keeps the full η."""
  eta, warm = float(loss_config.eta), int(loss_config.eta_warmup_steps)
  return optax.linear_schedule(0.0, eta, warm)(step) if warm > 0 else eta


def _lagrangian(config, x, cands, lik, recons, d1, d2, step):
  l = config.loss
  codec = config.model.codec
  w_rec = float(l.recon_weight)
  return gw_loss.lagrangian(
      lik, d1, d2, codec=codec, num_pixels=x.shape[1] * x.shape[2], eta=rate_multiplier(l, step), beta=float(l.beta),
      common_candidates=cands if codec == "shared" else None,
      aux_weight=gw_loss.aux_coefficient(float(l.aux_weight), float(l.eta), bool(l.aux_scaled_by_eta)),
      reconstructions=recons if w_rec else None,
      inputs=x if w_rec else None, recon_weight=w_rec, recon_scale=float(l.recon_scale))


def loss(params, model_state, batch, rng, ctx):
  config = ctx.config
  x, _, cands, lik, recons, outputs, d1, d2, extra = _forward(config, params, model_state, batch)
  if source(config)[0] == "cityscapes":  # §4.3: over the batch's pixels, not a mean of per-image terms
    d1, d2 = gw_cityscapes.batch_distortions(outputs, batch)
    extra = {"rmse_px": extra["rmse_px"]}
  value, metrics = _lagrangian(config, x, cands, lik, recons, jnp.mean(d1), jnp.mean(d2), ctx.step)
  metrics.update({k: jnp.mean(v) for k, v in extra.items()})
  return value, (metrics, model_state)


def per_example(config, params, model_state, batch) -> dict:
  """Per-example ``bits/<latent>`` (−log2 of the likelihoods), ``d1``, ``d2``, ``aux_mse`` and the
  task metrics, plus the integer latents (``latent/<key>``)."""
  _, latents, cands, lik, _, _, d1, d2, extra = _forward(config, params, model_state, batch)
  out = {f"bits/{k}": nats_to_bits(rate_nats(v)) for k, v in lik.items()}
  out.update(d1=d1, d2=d2, **extra)
  if cands is not None:
    out["aux_mse"] = jnp.mean(jnp.square(cands[0] - cands[1]).reshape(d1.shape[0], -1), axis=-1)
  out.update({f"latent/{k}": v for k, v in latents.items()})
  return out


@functools.lru_cache(maxsize=None)
def _jit_of(fn, config_json: str):
  return jax.jit(functools.partial(fn, ml_collections.ConfigDict(json.loads(config_json))))


def jitted(fn, config):
  """``jax.jit(partial(fn, config))``, cached by ``fn`` and the config's content."""
  return _jit_of(fn, config.to_json())


def per_example_fn(config):
  """Jitted ``per_example(params, model_state, batch)`` of ``config``."""
  return jitted(per_example, config)


def latents_and_bits(config, params, batch) -> dict:
  """``bits/<latent>`` and ``latent/<key>`` only: what coding needs, without the task networks."""
  mod = module(config)
  latents, _ = mod.apply({"params": params}, inputs(config, batch), method=mod.encode)
  lik = mod.apply({"params": params}, latents, method=mod.likelihoods)
  out = {f"bits/{k}": nats_to_bits(rate_nats(v)) for k, v in lik.items()}
  out.update({f"latent/{k}": v for k, v in latents.items()})
  return out


def latents_fn(config):
  """Jitted ``latents_and_bits(params, batch)`` of ``config``."""
  return jitted(latents_and_bits, config)


def accumulate(sums: dict, out: dict, mask: np.ndarray) -> dict:
  """Adds the masked per-example values of ``out`` (latents excluded) to ``sums``: scalars per
  example sum to floats, per-example arrays (the confusion counts) to arrays."""
  mask = np.asarray(mask, np.float64)
  for k, v in out.items():
    if k.startswith("latent/"):
      continue
    v = np.asarray(v, np.float64)
    total = np.tensordot(mask, v, axes=(0, 0))
    sums[k] = sums.get(k, 0.0) + (float(total) if v.ndim == 1 else total)
  return sums


def summarize(config, sums: dict, count: float, num_pixels: int) -> dict:
  """Split means from per-example sums: rates in BPP (§2, `losses.gray_wyner.rate_metrics`), the
  scaled rate, distortions, the validation objective and the task metrics."""
  mean = {k: v / count for k, v in sums.items()}
  codec = config.model.codec
  bpp = {k[5:]: mean[k] / num_pixels for k in mean if k.startswith("bits/")}
  zero = 0.0
  rates = ({"R0": bpp["y"], "R1": zero, "R2": zero} if codec == "joint"
           else {"R0": bpp.get("y0", zero), "R1": bpp["y1"], "R2": bpp["y2"]})
  out = {k: float(v) for k, v in gw_loss.rate_metrics(rates["R0"], rates["R1"], rates["R2"]).items()}
  bpp_scaled = float(gw_loss.scaled_rate(rates, codec, float(config.loss.eta), float(config.loss.beta)))
  task = source(config)[0]
  q1, q2 = float(mean["d1"]), float(mean["d2"])
  if task == "cityscapes":  # §4.3: the validation objective reads 1/mIoU and the disparity RMSE
    from lossyless_jax.evaluation import segmentation
    out.update(segmentation.scores(sums["confusion"]))
    q1 = out["miou"]
  out.update(bpp_scaled=bpp_scaled, d1=float(mean["d1"]), d2=float(mean["d2"]),
             rate_distortion=float(gw_loss.validation_objective(bpp_scaled, q1, q2,
                                                                inverse=gw_loss.VALIDATION_INVERSE[task])))
  for k in ("acc_digit", "acc_colour", "rmse_1", "rmse_2", "rmse_px", "aux_mse"):
    if k in mean:
      out[k] = float(mean[k])
  out["examples"] = float(count)
  return out


def evaluate(params, model_state, batches, ctx):
  config = ctx.config
  fn = per_example_fn(config)
  sums, count, num_pixels = {}, 0.0, None
  for batch in batches:
    out = parallel.to_host(fn(params, model_state, batch))
    mask = np.asarray(parallel.to_host(batch["mask"]), np.float64)
    x = inputs(config, batch)
    num_pixels = int(x.shape[1] * x.shape[2])
    accumulate(sums, out, mask)
    count += float(mask.sum())
  return summarize(config, sums, count, num_pixels)


def _report(params, model_state, ctx):
  from lossyless_jax.methods.gray_wyner import report
  return report.run(params, model_state, ctx)


def _summary(report, workdir):
  from lossyless_jax.methods.gray_wyner import report as report_lib
  return report_lib.summary(report, workdir)


METHOD = methods.register(methods.Method("gray_wyner", init, loss, evaluate, _report, validate=validate,
                                         rerun_safe=("loss.code_images", "loss.rate_tolerance"), summary=_summary,
                                         float32_params=("h0", "h1", "h2")))
