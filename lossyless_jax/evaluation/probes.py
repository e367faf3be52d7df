"""Downstream predictors trained on frozen representations or (decoded) images.

Protocol (paper §5, App. E.2): freeze the compressor, featurise (rounded ẑ) or decode (x̂) the
labelled splits, train a predictor on the train split, report test accuracy (error = 1 −
accuracy). With ``validation=(x, y)`` the parameters of the epoch with the best validation
accuracy are kept (and training stops after ``patience`` epochs without improvement): model
selection never looks at the test split.

- ``train_linear_probe``: multinomial logistic regression (optax; full batch by default).
- ``train_mlp_probe``: MLP ``|Z| – 2048 – 2048 – |Y|`` with pre-activation BatchNorm, ReLU and
  dropout (App. E.2; the authors' code: BN, ReLU, dropout 0.2; AdamW lr 3e-4, wd 1e-5, ×100 multistep decay in
  3 steps). ``hidden`` is configurable (use e.g. ``(256,)`` on CPU).
- ``train_cnn_classifier``: a small CNN on images (``nets.convnets.CNNClassifier``) or any Flax
  model via ``model=`` (e.g. ``nets.resnet.ResNet18(num_classes)``), optional keyed train-time
  augmentation.
- ``sklearn_linear_svc_probe``: the CLIP experiments' ``LinearSVC(dual=False)`` probe.

All optax probes are deterministic given the key: initialisation, shuffling and dropout are drawn
from it; one epoch is a loop of jitted minibatch steps (drop-last), full batch when
``batch_size`` is ``None`` or ≥ N.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from lossyless_jax import progress
from lossyless_jax.nets.convnets import CNNClassifier
from lossyless_jax.nets.mlp import MLP

__all__ = [
    "ProbeResult",
    "make_schedule",
    "fit_classifier",
    "train_linear_probe",
    "train_mlp_probe",
    "train_cnn_classifier",
    "sklearn_linear_svc_probe",
]


@dataclasses.dataclass
class ProbeResult:
  test_accuracy: float
  train_accuracy: float
  test_loss_nats: float
  final_train_loss_nats: float
  validation_accuracy: float = float("nan")  # of the kept parameters (nan: no validation split)
  best_epoch: int = -1  # epoch (1-based) of the kept parameters
  epochs_run: int = 0
  variables: Any = dataclasses.field(repr=False, default=None)
  standardizer: tuple[np.ndarray, np.ndarray] | None = dataclasses.field(repr=False, default=None)

  def as_dict(self) -> dict:
    return {
        "test_accuracy": self.test_accuracy,
        "test_error": 1.0 - self.test_accuracy,
        "train_accuracy": self.train_accuracy,
        "test_loss_nats": self.test_loss_nats,
        "final_train_loss_nats": self.final_train_loss_nats,
        "validation_accuracy": self.validation_accuracy,
        "best_epoch": self.best_epoch,
        "epochs_run": self.epochs_run,
    }


def make_schedule(name: str, learning_rate: float, total_steps: int, *, decay_factor: float = 100.0,
                  num_decays: int = 3) -> optax.Schedule:
  """``"constant"``, ``"cosine"``, ``"exponential"`` (÷decay_factor over training) or
  ``"multistep"`` (÷decay_factor in ``num_decays`` equal steps at uniform intervals; the code's
  probe schedule)."""
  total_steps = max(int(total_steps), 1)
  if name == "constant":
    return optax.constant_schedule(learning_rate)
  if name == "cosine":
    return optax.cosine_decay_schedule(learning_rate, total_steps)
  if name == "exponential":
    return optax.exponential_decay(learning_rate, total_steps, 1.0 / decay_factor)
  if name == "multistep":
    per = decay_factor ** (-1.0 / num_decays)
    bounds = {int(total_steps * (i + 1) / (num_decays + 1)): per for i in range(num_decays)}
    return optax.piecewise_constant_schedule(learning_rate, bounds)
  raise ValueError(f"unknown schedule {name!r}; use constant, cosine, exponential or multistep")


def _as_labels(y, name: str) -> np.ndarray:
  y = np.asarray(y)
  if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
    raise ValueError(f"{name} must be a 1-D integer array, got shape {y.shape} dtype {y.dtype}")
  return y.astype(np.int32)


def _adamw(learning_rate, weight_decay: float) -> optax.GradientTransformation:
  return optax.adamw(learning_rate, weight_decay=weight_decay)


# The jitted functions live at module level with the model and the shapes as their cache key, so
# that refitting the same architecture (one CNN per classical codec setting, one probe per seed)
# compiles once per process. The schedule enters as one learning rate per step.

# One jitted step per minibatch, looped in Python: XLA's CPU backend runs convolutions inside a
# `lax.scan` body ~10x slower than as a top-level computation.
@functools.partial(jax.jit, static_argnames=("model", "batch_size", "weight_decay", "train_augment"))
def _train_step(state, x_all, y_all, perm, k_steps, learning_rates, t, *, model, batch_size, weight_decay,
                train_augment):
  """Global step ``t`` at ``learning_rates[t]``: minibatch ``t mod steps per epoch`` of ``perm``."""
  p, bstats, o = state
  i = t % (x_all.shape[0] // batch_size)
  has_bn = bstats is not None
  idx = jax.lax.dynamic_slice_in_dim(perm, i * batch_size, batch_size)
  xb, yb = x_all[idx], y_all[idx]
  k_aug, k_do = jax.random.split(jax.random.fold_in(k_steps, i))
  if train_augment is not None:
    xb = train_augment(k_aug, xb)

  def loss_fn(params):
    if has_bn:
      logits, upd = model.apply({"params": params, "batch_stats": bstats}, xb, train=True, rngs={"dropout": k_do},
                                mutable=["batch_stats"])
      new_bstats = upd["batch_stats"]
    else:
      logits = model.apply({"params": params}, xb, train=True, rngs={"dropout": k_do})
      new_bstats = bstats
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, yb)), new_bstats

  (loss, bstats), g = jax.value_and_grad(loss_fn, has_aux=True)(p)
  updates, o = _adamw(learning_rates[t], weight_decay).update(g, o, p)
  return (optax.apply_updates(p, updates), bstats, o), loss


@functools.partial(jax.jit, static_argnames=("n", "batch_size"))
def _epoch_order(epoch_key, *, n, batch_size):
  k_perm, k_steps = jax.random.split(epoch_key)
  perm = jax.random.permutation(k_perm, n) if batch_size < n else jnp.arange(n)
  return perm, k_steps


@functools.partial(jax.jit, static_argnames=("model",))
def _predict(vars_in, xb, *, model):
  return model.apply(vars_in, xb, train=False)


def fit_classifier(
    key: jax.Array,
    model: nn.Module,
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    *,
    epochs: int = 100,
    batch_size: int | None = 128,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    schedule: str = "constant",
    train_augment: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
    eval_batch_size: int = 2048,
    validation: tuple[Any, Any] | None = None,
    patience: int = 0,
    desc: str = "classifier",
) -> ProbeResult:
  """Train ``model`` (``__call__(x, train: bool)``, logits out) with AdamW + cross-entropy.

  ``train_augment(key, batch) -> batch`` is applied to every training minibatch (keyed).
  BatchNorm statistics (``batch_stats``) and dropout (``"dropout"`` rng) are handled.
  ``validation=(x_val, y_val)``: keep the parameters of the epoch with the best validation
  accuracy (the first one on ties); ``patience > 0`` stops after that many epochs without
  improvement. The schedule spans ``epochs`` either way. ``desc`` names the epochs' progress
  (``progress.phase``).
  """
  x_train = jnp.asarray(x_train, jnp.float32)
  x_test = jnp.asarray(x_test, jnp.float32)
  y_train = jnp.asarray(_as_labels(y_train, "y_train"))
  y_test_np = _as_labels(y_test, "y_test")
  n = x_train.shape[0]
  if n != y_train.shape[0] or x_test.shape[0] != y_test_np.shape[0]:
    raise ValueError("x and y must have the same number of examples")
  bs = n if (batch_size is None or batch_size >= n) else int(batch_size)
  steps_per_epoch = n // bs
  total_steps = steps_per_epoch * int(epochs)

  try:
    hash((model, train_augment))
  except TypeError as e:  # the model keys the compiled step
    raise TypeError(f"fit_classifier: the model's fields must be hashable (tuples, not lists): {e}") from None
  k_init, k_drop, k_train = jax.random.split(key, 3)
  variables = model.init({"params": k_init, "dropout": k_drop}, x_train[:1], train=False)
  params = variables["params"]
  batch_stats = variables.get("batch_stats")
  has_bn = batch_stats is not None
  schedule_fn = make_schedule(schedule, learning_rate, total_steps)
  steps = jnp.arange(max(total_steps, 1))
  learning_rates = jnp.broadcast_to(jnp.asarray(schedule_fn(steps), jnp.float32), steps.shape)
  opt_state = _adamw(0.0, weight_decay).init(params)
  step_fn = functools.partial(_train_step, model=model, batch_size=bs, weight_decay=float(weight_decay),
                              train_augment=train_augment)

  def run_epoch(state, epoch, epoch_key, x_all, y_all):
    perm, k_steps = _epoch_order(epoch_key, n=n, batch_size=bs)
    loss = jnp.nan
    for i in range(steps_per_epoch):
      state, loss = step_fn(state, x_all, y_all, perm, k_steps, learning_rates, jnp.int32(epoch * steps_per_epoch + i))
    return state, loss

  def variables_of(state):
    p, bstats, _ = state
    return {"params": p} if not has_bn else {"params": p, "batch_stats": bstats}

  def logits_of(x, vars_in):
    outs = []
    m = x.shape[0]
    for start in range(0, m, eval_batch_size):
      chunk = x[start:start + eval_batch_size]
      pad = eval_batch_size - chunk.shape[0] if m > eval_batch_size else 0
      if pad:
        chunk = jnp.concatenate([chunk, jnp.zeros((pad,) + chunk.shape[1:], chunk.dtype)])
      out = _predict(vars_in, chunk, model=model)
      outs.append(np.asarray(out[: out.shape[0] - pad]))
    return np.concatenate(outs)

  if validation is not None:
    x_val = jnp.asarray(validation[0], jnp.float32)
    y_val = _as_labels(validation[1], "y_val")
  state = (params, batch_stats, opt_state)
  last_loss = jnp.nan
  best = (-1.0, 0, None)  # (validation accuracy, epoch, variables)
  epochs_run = 0
  with progress.phase(desc, total=int(epochs), unit="epochs") as bar:
    for epoch in range(int(epochs)):
      state, last_loss = run_epoch(state, epoch, jax.random.fold_in(k_train, epoch), x_train, y_train)
      epochs_run = epoch + 1
      if validation is None:
        bar.update()
        continue
      acc = float(np.mean(logits_of(x_val, variables_of(state)).argmax(-1) == y_val))
      bar.update(val_acc=acc)
      if acc > best[0]:
        best = (acc, epoch + 1, variables_of(state))
      elif patience and epoch + 1 - best[1] >= patience:
        break
    final_vars = variables_of(state) if validation is None else best[2]
    test_logits = logits_of(x_test, final_vars)
    train_logits = logits_of(x_train, final_vars)
  test_loss = float(np.mean(optax.softmax_cross_entropy_with_integer_labels(
      jnp.asarray(test_logits), jnp.asarray(y_test_np))))
  return ProbeResult(
      test_accuracy=float(np.mean(test_logits.argmax(-1) == y_test_np)),
      train_accuracy=float(np.mean(train_logits.argmax(-1) == np.asarray(y_train))),
      test_loss_nats=test_loss,
      final_train_loss_nats=float(last_loss),
      validation_accuracy=best[0] if validation is not None else float("nan"),
      best_epoch=best[1] if validation is not None else epochs_run,
      epochs_run=epochs_run,
      variables=final_vars,
  )


def _standardize(x_train, x_test, eps: float = 1e-6):
  x_train = np.asarray(x_train, np.float32).reshape(len(x_train), -1)
  x_test = np.asarray(x_test, np.float32).reshape(len(x_test), -1)
  mean = x_train.mean(0)
  std = x_train.std(0) + eps
  return (x_train - mean) / std, (x_test - mean) / std, (mean, std)


def _num_classes(y_train, y_test, num_classes):
  if num_classes is not None:
    return int(num_classes)
  return int(max(np.max(y_train), np.max(y_test))) + 1


def train_linear_probe(
    key: jax.Array,
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    *,
    num_classes: int | None = None,
    epochs: int = 300,
    batch_size: int | None = None,
    learning_rate: float = 1e-2,
    weight_decay: float = 0.0,
    schedule: str = "cosine",
    standardize: bool = True,
    validation: tuple[Any, Any] | None = None,
    patience: int = 0,
    desc: str = "linear probe",
) -> ProbeResult:
  """Linear (softmax-regression) probe on flattened features; full batch by default."""
  k = _num_classes(y_train, y_test, num_classes)
  model = _Flatten(nn.Dense(k, kernel_init=nn.initializers.zeros))
  return _fit_probe(key, model, x_train, y_train, x_test, y_test, standardize, epochs=epochs,
                    batch_size=batch_size, learning_rate=learning_rate,
                    weight_decay=weight_decay, schedule=schedule, validation=validation, patience=patience, desc=desc)


def _fit_probe(key, model, x_train, y_train, x_test, y_test, standardize: bool, **fit_kwargs) -> ProbeResult:
  """`fit_classifier` on (optionally) standardized features (the train statistics, also applied
  to the validation features); the statistics go in the result."""
  stats = None
  if standardize:
    x_train, x_test, stats = _standardize(x_train, x_test)
    if fit_kwargs.get("validation") is not None:
      x_val, y_val = fit_kwargs["validation"]
      x_val = (np.asarray(x_val, np.float32).reshape(len(x_val), -1) - stats[0]) / stats[1]
      fit_kwargs["validation"] = (x_val, y_val)
  res = fit_classifier(key, model, x_train, y_train, x_test, y_test, **fit_kwargs)
  res.standardizer = stats
  return res


class _Flatten(nn.Module):
  inner: nn.Module

  def __call__(self, x, train: bool = False):
    return self.inner(x.reshape(x.shape[0], -1))


def train_mlp_probe(
    key: jax.Array,
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    *,
    num_classes: int | None = None,
    hidden: Sequence[int] = (2048, 2048),
    dropout: float = 0.2,
    batch_norm: bool = True,
    epochs: int = 100,
    batch_size: int | None = 128,
    learning_rate: float = 3e-4,
    weight_decay: float = 1e-5,
    schedule: str = "multistep",
    standardize: bool = True,
    validation: tuple[Any, Any] | None = None,
    patience: int = 0,
    desc: str = "MLP probe",
) -> ProbeResult:
  """MLP probe (App. E.2, the authors' defaults); shrink ``hidden``/``epochs`` on CPU."""
  k = _num_classes(y_train, y_test, num_classes)
  model = MLP(tuple(hidden), k, activation="relu", norm="batch" if batch_norm else None,
              dropout=dropout)
  return _fit_probe(key, model, x_train, y_train, x_test, y_test, standardize, epochs=epochs,
                    batch_size=batch_size, learning_rate=learning_rate,
                    weight_decay=weight_decay, schedule=schedule, validation=validation, patience=patience, desc=desc)


def train_cnn_classifier(
    key: jax.Array,
    images_train: Any,
    y_train: Any,
    images_test: Any,
    y_test: Any,
    *,
    num_classes: int | None = None,
    model: nn.Module | None = None,
    channels: Sequence[int] = (32, 64, 128),
    hidden: int = 256,
    dropout: float = 0.0,
    epochs: int = 30,
    batch_size: int | None = 128,
    learning_rate: float = 1e-3,
    weight_decay: float = 1e-5,
    schedule: str = "cosine",
    train_augment: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
    validation: tuple[Any, Any] | None = None,
    patience: int = 0,
    desc: str = "CNN",
) -> ProbeResult:
  """CNN on (decoded) NHWC images in [0, 1]; ``model`` overrides the default ``CNNClassifier``
  (e.g. ``ResNet18(num_classes)`` for the paper's predictor on reconstructions)."""
  images_train = np.asarray(images_train, np.float32)
  images_test = np.asarray(images_test, np.float32)
  if images_train.ndim != 4 or images_test.ndim != 4:
    raise ValueError(
        f"images must be NHWC, got {images_train.shape} and {images_test.shape}"
    )
  k = _num_classes(y_train, y_test, num_classes)
  if model is None:
    model = CNNClassifier(k, channels=tuple(channels), hidden=hidden, dropout=dropout)
  return fit_classifier(key, model, images_train, y_train, images_test, y_test, epochs=epochs,
                        batch_size=batch_size, learning_rate=learning_rate,
                        weight_decay=weight_decay, schedule=schedule, train_augment=train_augment,
                        validation=validation, patience=patience, desc=desc)


def sklearn_linear_svc_probe(
    x_train: Any, y_train: Any, x_test: Any, y_test: Any, *, C: float = 1.0,  # noqa: N803
    standardize: bool = True, max_iter: int = 5000,
) -> dict:
  """``sklearn.svm.LinearSVC(C, dual=False)`` (the CLIP experiments' linear probe; the minimal
  script uses C=4e-3 on raw CLIP features). Returns ``{"test_accuracy", "train_accuracy"}``."""
  from sklearn.svm import LinearSVC

  if standardize:
    x_train, x_test, _ = _standardize(x_train, x_test)
  else:
    x_train = np.asarray(x_train).reshape(len(x_train), -1)
    x_test = np.asarray(x_test).reshape(len(x_test), -1)
  clf = LinearSVC(C=C, dual=False, max_iter=max_iter)
  clf.fit(x_train, np.asarray(y_train))
  return {
      "test_accuracy": float(clf.score(x_test, np.asarray(y_test))),
      "train_accuracy": float(clf.score(x_train, np.asarray(y_train))),
  }
