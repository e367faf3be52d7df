"""MLPs (Flax linen): encoders/decoders for Banana, probes, and BINCE's projection head.

Initialisation follows App. E of "Lossy Compression for Lossless Prediction" and the authors'
``weights_init``: Kaiming-uniform for linear layers (``variance_scaling(2, "fan_in", "uniform")``,
i.e. U[±sqrt(6 / fan_in)], torch's ``kaiming_uniform_(nonlinearity="relu")``), zero biases.
Convolutions (``nets.convnets``, ``nets.resnet``) use Kaiming-normal with ``fan_out``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = [
    "kaiming_uniform",
    "kaiming_normal_fan_out",
    "get_activation",
    "MLP",
    "ProjectionHead",
    "projection_dim",
    "LogitScale",
]

kaiming_uniform = nn.initializers.variance_scaling(2.0, "fan_in", "uniform")
kaiming_normal_fan_out = nn.initializers.variance_scaling(2.0, "fan_out", "normal")

_ACTIVATIONS: dict[str, Callable] = {
    "relu": nn.relu,
    "elu": nn.elu,
    "softplus": nn.softplus,
    "gelu": nn.gelu,
    "silu": nn.silu,
    "tanh": jnp.tanh,
    "leaky_relu": nn.leaky_relu,
    "identity": lambda x: x,
}


def get_activation(name: str | Callable) -> Callable:
  if callable(name):
    return name
  if name not in _ACTIVATIONS:
    raise ValueError(f"unknown activation {name!r}; known: {sorted(_ACTIVATIONS)}")
  return _ACTIVATIONS[name]


class MLP(nn.Module):
  """``x -> [Dense -> (norm) -> act -> (dropout)] × len(hidden) -> Dense(out_dim)``.

  Inputs with more than one non-batch axis are flattened. ``norm`` is ``None``, ``"batch"``
  (pre-activation BatchNorm, as in the paper's probes and the code's Banana MLPs; running averages
  when ``train=False``) or ``"layer"``. Dropout needs a ``"dropout"`` rng when ``train=True``.

  Examples: Banana encoder ``MLP((1024, 1024), z_dim, activation="softplus")``; probe
  ``MLP((2048, 2048), n_classes, norm="batch", dropout=0.2)``.
  """

  hidden: Sequence[int]
  out_dim: int
  activation: str | Callable = "relu"
  norm: str | None = None
  dropout: float = 0.0
  use_bias_out: bool = True
  bn_momentum: float = 0.9

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    if self.norm not in (None, "batch", "layer"):
      raise ValueError(f"norm must be None, 'batch' or 'layer', got {self.norm!r}")
    act = get_activation(self.activation)
    x = x.reshape(x.shape[0], -1)
    for i, width in enumerate(self.hidden):
      x = nn.Dense(width, kernel_init=kaiming_uniform, bias_init=nn.initializers.zeros,
                   use_bias=self.norm is None, name=f"dense_{i}")(x)
      if self.norm == "batch":
        x = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                         epsilon=1e-5, name=f"bn_{i}")(x)
      elif self.norm == "layer":
        x = nn.LayerNorm(name=f"ln_{i}")(x)
      x = act(x)
      if self.dropout > 0:
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.out_dim, kernel_init=kaiming_uniform, bias_init=nn.initializers.zeros,
                    use_bias=self.use_bias_out, name="out")(x)


def projection_dim(z_dim: int) -> int:
  """BINCE projection output size ``max(10, int(0.5 · z_dim))`` (the authors' code)."""
  return max(10, int(0.5 * z_dim))


class ProjectionHead(nn.Module):
  """BINCE/SimCLR projector ``z_dim -> 128 -> out_dim`` (ReLU, no norm, the authors' ``is_project=True``).

  ``out_dim=None`` uses ``projection_dim(z_dim)``.
  """

  hidden: int = 128
  out_dim: int | None = None

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    out = projection_dim(z.shape[-1]) if self.out_dim is None else self.out_dim
    return MLP((self.hidden,), out, activation="relu")(z)


class LogitScale(nn.Module):
  """A trainable scalar ``logit_scale`` initialised to ``log(1/init_temperature)``; feed it to
  ``losses.infonce.nt_xent`` (which applies the 0.01 temperature floor)."""

  init_temperature: float = 0.07

  @nn.compact
  def __call__(self) -> jax.Array:
    init = jnp.log(1.0 / self.init_temperature)
    return self.param("logit_scale", lambda _: jnp.asarray(init, jnp.float32))
