"""Fields of the invariant compressors, their defaults and their validation (one place).

``config(method)`` is ``base_config()`` plus every ``model``/``loss``/``model.eval`` field the
methods read, set to the defaults below; experiment configs override the numbers of their
experiment. ``validate(config)`` checks those sections like the loop's own: an unknown or
ill-typed field, or an unsupported combination, raises ``ConfigError`` naming it.

Loss weighting (paper §2.5 and App. E): the paper writes ``rate + β·distortion``; as trained,
``distortion / loss.distortion_factor + λ·rate_nats`` with ``λ = 1/β`` = ``coefs.rate.value``,
warmed up linearly from ``λ·1e-5`` over the first 10 % of training (constant on Banana).
"""
from __future__ import annotations

import ml_collections

from lossyless_jax import config as config_lib
from lossyless_jax.config import NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, PROBABILITY, each, is_int, one_of

KINDS = ("vic", "vc", "bince", "staggered")
# The authors' weighting of the distortion (``factor_beta``): VIC 1, VC 0.5, BINCE 0.003.
DISTORTION_FACTOR = {"vic": 1.0, "vc": 0.5, "bince": 0.003, "staggered": 1.0}
ENCODERS = ("conv", "mlp", "resnet18", "identity")
# "none": no entropy bottleneck and no rate term (the authors' ``rate=lossless``; staggered step 1).
RATE_MODELS = ("factorized", "hyperprior", "none")
LIKELIHOODS = ("", "bernoulli", "gaussian_sigmoid", "gaussian")
EQUIVALENCES = ("augment", "label")
REDUCTIONS = ("sum", "mean")

MODEL = dict(
    encoder="conv", z_dim=32, channels=(32, 64), hidden=(1024, 1024), activation="softplus", norm="",
    resnet_width=64, resnet_stage_sizes=(2, 2, 2, 2), resnet_pool="avg",
    rate="factorized", affine=False,
    rate_init_scale=10.0,  # initial width of the factorized densities (Ballé et al.'s 10)
    decoder_top_channels=256, decoder_hidden=(1024, 1024),
    proj_hidden=128, proj_dim=0,  # BINCE head z -> 128 -> proj_dim (0: max(10, z_dim // 2))
    augment="none", augment_order=1,
    p_augment=1.0,  # probability that an example is augmented (paper Fig. 12); 0: the raw input
    banana_invariance="",  # Banana (Sec. 5.1): rotation | x_translation | y_translation
    encoder_workdir="",  # staggered: the finished run whose encoder is frozen
)
LOSS = dict(
    kind="", distortion_factor=-1.0,  # < 0: DISTORTION_FACTOR[kind]
    likelihood="",  # "": bernoulli for grey images, gaussian_sigmoid for colour, gaussian for vectors
    reduce="sum",  # reconstruction NLL over coordinates: sum (images) or mean (Banana, authors' code)
    equivalence="augment",  # augment | label (Table 6 "supervised": same label)
    init_temperature=0.07, min_temperature=0.01,
    effective_batch_size=0,  # BINCE ML-CPC reweighting: the training-set size; 0: off
)
EVAL = dict(
    splits=("train", "validation", "test"),  # the splits coded; probes select on validation when present
    seed=0, train_copies=2, validation_copies=2, test_copies=2, chunk=256,
    linear_epochs=300, mlp_hidden=(512, 512), mlp_epochs=40, mlp_dropout=0.2,
    probe_patience=0,  # validation checks without improvement before a probe stops (0: never)
    # the CNN on images (uncompressed, classical codecs, reconstructions): trained until its
    # validation accuracy has not improved for `cnn_patience` epochs, at most `cnn_epochs`.
    cnn_channels=(32, 64), cnn_hidden=128, cnn_epochs=60, cnn_patience=8,
    classical_copies=0,  # augmented copies of the train split the classical CNNs see (0: train_copies)
    cnn_on_reconstructions=True, uncompressed=True,
    classical=("png:9",),  # codec:quality settings, see `evaluation.classical`
    cache_dir="",  # "": the classical rows are cached in <workdir>/cache
    cells_mesh=500, cells_lim=5.0, ring_bins=100,  # Banana cell plot: mesh² points over [-lim, lim]²
)


MODEL_CHECKS = dict(
    encoder=one_of(*ENCODERS), z_dim=POSITIVE_INT, channels=each(POSITIVE_INT), hidden=each(POSITIVE_INT),
    norm=one_of("", "batch", "layer"), resnet_width=POSITIVE_INT, resnet_stage_sizes=each(POSITIVE_INT),
    resnet_pool=one_of("avg", "flatten"), rate=one_of(*RATE_MODELS), rate_init_scale=POSITIVE,
    decoder_top_channels=POSITIVE_INT, decoder_hidden=each(POSITIVE_INT), proj_hidden=POSITIVE_INT,
    proj_dim=NON_NEGATIVE_INT, augment_order=one_of(0, 1), p_augment=PROBABILITY)
LOSS_CHECKS = dict(
    likelihood=one_of(*LIKELIHOODS), reduce=one_of(*REDUCTIONS), equivalence=one_of(*EQUIVALENCES),
    init_temperature=POSITIVE, min_temperature=POSITIVE, effective_batch_size=NON_NEGATIVE_INT)
EVAL_CHECKS = dict(
    splits=(lambda v: isinstance(v, (tuple, list)) and {"train", "test"} <= set(v) <= {"train", "validation", "test"},
            "'train' and 'test', optionally 'validation'"),
    seed=(is_int, "an integer"), chunk=POSITIVE_INT, cnn_hidden=POSITIVE_INT,
    **dict.fromkeys(("train_copies", "validation_copies", "test_copies", "cells_mesh", "ring_bins"), POSITIVE_INT),
    **dict.fromkeys(("linear_epochs", "mlp_epochs", "probe_patience", "cnn_epochs", "cnn_patience",
                     "classical_copies"), NON_NEGATIVE_INT),
    mlp_hidden=each(POSITIVE_INT), cnn_channels=each(POSITIVE_INT), cells_lim=POSITIVE,
    mlp_dropout=(lambda v: config_lib.is_real(v) and 0 <= v < 1, "a probability in [0, 1)"))


def config(method: str, *, lmbda: float, num_steps: int, lr: float = 1e-3,
           warmup_fraction: float = 0.1) -> ml_collections.ConfigDict:
  """``base_config()`` with every field of this family at its default and the authors' training
  recipe (App. E): AdamW (weight decay 1e-5, gradient clipping 3), the learning rate decayed
  exponentially ×100, the entropy models' ``quantiles`` in their own optimizer group, λ on the
  rate warmed up linearly from ``λ·1e-5`` over ``warmup_fraction`` of training, one evaluation
  at the end (the report runs the full protocol)."""
  if method not in KINDS:
    raise config_lib.ConfigError(f"config.method: {method!r}; expected one of {', '.join(KINDS)}")
  c = config_lib.base_config()
  c.method = method
  c.num_steps = num_steps
  c.log_every = max(1, min(100, num_steps // 10))
  c.eval_every = c.checkpoint.every = num_steps
  c.eval_subset.every = max(1, num_steps // 10)  # TensorBoard's test curve between the full evaluations
  c.monitor = "test/loss"
  c.report_on = "last"
  c.optim = config_lib.optimizer_config(
      name="adamw", weight_decay=1e-5, clip_norm=3.0,
      lr=config_lib.schedule_config(kind="exponential", value=lr, end_value=lr / 100))
  c.optim.accumulate_steps = 1
  c.optim.groups = ml_collections.ConfigDict()
  # The quantiles only set the coder's support: lr 1e-2 (the code's 3e-4 does not reach the
  # 1e-9 tails in a few thousand steps; the report solves them exactly anyway).
  c.optim.groups.aux = config_lib.optimizer_config(
      name="adam", lr=config_lib.schedule_config(kind="exponential", value=1e-2, end_value=1e-4))
  c.coefs.rate = config_lib.schedule_config(kind="constant", value=lmbda,
                                            warmup_steps=int(warmup_fraction * num_steps), warmup_init=1e-5)
  c.model = ml_collections.ConfigDict(MODEL)
  c.model.eval = ml_collections.ConfigDict(EVAL)
  c.loss = ml_collections.ConfigDict(LOSS)
  c.loss.kind = method
  c.loss.distortion_factor = DISTORTION_FACTOR[method]
  return c


def validate(config) -> None:
  """Raises ``ConfigError`` for an unknown/ill-typed field or an unsupported combination."""
  model = ml_collections.ConfigDict(dict(MODEL, augment=None))  # a preset name, a string or a sequence spec
  model.eval = ml_collections.ConfigDict(EVAL)
  config_lib.check_section(config.model, model, "model")
  config_lib.check_section(config.loss, ml_collections.ConfigDict(LOSS), "loss")
  kind = kind_of(config)
  m, l = config.model, config.loss
  from lossyless_jax.data import banana  # (the networks' and data's names; heavy imports, so here)
  from lossyless_jax.nets import mlp
  config_lib.check_fields(m, dict(MODEL_CHECKS, activation=one_of(*mlp._ACTIVATIONS),
                       banana_invariance=one_of("", *banana.INVARIANCES)), "model")
  config_lib.check_fields(l, LOSS_CHECKS, "loss")
  if "eval" in m:
    config_lib.check_fields(m.eval, EVAL_CHECKS, "model.eval")
  if l.get("equivalence", "augment") == "label" and kind not in ("vic", "bince"):
    raise config_lib.ConfigError(
        f"config.loss.equivalence='label' with method {kind!r}: the supervised equivalence (Table 6) "
        "exists for vic and bince only (vc has no invariance; staggered takes a frozen encoder)")
  if m.get("rate", "factorized") == "none" and kind not in ("bince", "vic", "vc"):
    raise config_lib.ConfigError("config.model.rate='none' (no bottleneck) is for training an encoder "
                                 f"without a rate term, not for method {kind!r}")
  if kind == "staggered" and not m.get("encoder_workdir", "") and m.get("encoder", "conv") != "identity":
    raise config_lib.ConfigError("config.model.encoder_workdir: empty; the staggered method freezes the "
                                 "encoder of a finished run (or use model.encoder='identity' on features)")


def kind_of(config) -> str:
  kind = config.loss.get("kind", "") or config.method
  config_lib.check_choice(kind, KINDS, "loss.kind")
  return kind


def distortion_factor(config) -> float:
  f = float(config.loss.get("distortion_factor", -1.0))
  return f if f > 0 else DISTORTION_FACTOR[kind_of(config)]


def eval_fields(config) -> dict:
  """``model.eval`` over the defaults, as a plain dict."""
  out = dict(EVAL)
  ev = config.model.get("eval", None)
  if ev is not None:
    out.update(ev.to_dict() if hasattr(ev, "to_dict") else dict(ev))
  return out


def tiny(c, steps: int = 3):
  """Shrinks a config for tests: a few steps, short probes, one small classical CNN."""
  c.num_steps = steps
  c.log_every = 1
  c.eval_every = steps
  c.eval_subset.every = 0
  c.checkpoint.every = steps
  c.coefs.rate.warmup_steps = min(1, c.coefs.rate.warmup_steps)
  ev = c.model.eval
  ev.train_copies = ev.validation_copies = ev.test_copies = 1
  ev.linear_epochs = 5
  ev.mlp_epochs = 0
  ev.cnn_epochs = 1
  ev.classical = ("png:9",) if ev.classical else ()
  return c


def mock(c):
  """Shrinks an image config (ResNet18, TFDS) for ``tfds.testing.mock_data`` runs in the tests."""
  tiny(c, steps=2)
  c.data.image_size = 16
  c.data.batch_size = c.data.eval_batch_size = 8
  c.data.shuffle_buffer = 64
  c.model.resnet_width = 4
  c.model.resnet_stage_sizes = (1, 1, 1, 1)
  c.model.z_dim = 16
  c.model.decoder_top_channels = 16
  c.model.eval.chunk = 16
  c.model.eval.cnn_on_reconstructions = c.model.eval.uncompressed = False
  c.model.eval.classical = ()
  if c.loss.effective_batch_size:
    c.loss.effective_batch_size = 16
  return c


def image_model(c):
  """The paper's image compressor and evaluation (App. E.2-E.4): batch 128, ResNet18 with the
  CIFAR stem -> z_dim 128, the scale hyperprior, the transposed-conv decoder 256-128-64-32, one
  fixed view per image, the MLP probe 2048-2048 (100 epochs), a 32-64-128 CNN (30 epochs). TFDS
  has no validation split for these datasets, so probes select on test."""
  c.data.batch_size, c.data.eval_batch_size = 128, 512
  c.model.encoder = "resnet18"
  c.model.resnet_width, c.model.resnet_stage_sizes, c.model.resnet_pool = 64, (2, 2, 2, 2), "avg"
  c.model.z_dim = 128
  c.model.rate = "hyperprior"
  c.model.decoder_top_channels = 256
  ev = c.model.eval
  ev.splits = ("train", "test")
  ev.train_copies = ev.test_copies = 1
  ev.chunk = 512
  ev.mlp_hidden, ev.mlp_epochs = (2048, 2048), 100
  ev.cnn_channels, ev.cnn_hidden, ev.cnn_epochs = (32, 64, 128), 256, 30
  return c


def switch_method(c, method: str, distortion_factor: float | None = None):
  """The same experiment with another method: ``method``, ``loss.kind`` and the method's
  distortion factor (``DISTORTION_FACTOR``, or ``distortion_factor``)."""
  if method not in KINDS:
    raise config_lib.ConfigError(f"config.method: {method!r}; expected one of {', '.join(KINDS)}")
  c.method = c.loss.kind = method
  c.loss.distortion_factor = DISTORTION_FACTOR[method] if distortion_factor is None else float(distortion_factor)
  return c
