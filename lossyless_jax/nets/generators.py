"""Generators G_θ: z ~ N(0, I) ↦ y, parameterising the reproduction law Q_Y = G_θ# P_Z (NERD eq. (9)).

* :class:`FCGenerator` — fully connected (the authors' ``Decoder_FC``: latent → m → m → m with ReLU,
  used for the Gaussian sources), with optional sigmoid output for bounded alphabets.
* :class:`DCGANGenerator` — the DCGAN-style image generator of the NERD code (latent m_z = 128,
  width c_d = 32): Dense → ReLU → reshape 2×2×8c_d → [ConvT(k4, s2) → ReLU → BatchNorm] × 3 →
  ConvT(k4, s2) → sigmoid, NHWC output in [0, 1]. BatchNorm comes *after* ReLU as in the code.
* :class:`DCGANCritic` — the WGAN-GP critic that pretrains the image generator (authors'
  ``models.Critic``): [Conv(k4, s2) → LeakyReLU(0.2)] with widths c_d, 2c_d, 4c_d, 8c_d → Dense(1);
  no normalisation, since the gradient penalty is per example.
* :func:`make_sample_fn` — turns a module + variables into ``sample_fn(key, num) -> (num, ...)``,
  the generator sample source consumed by ``losses.nerd.nerd_readouts_chunked`` and
  ``entropy.one_shot``.

The authors never put BatchNorm in eval mode: statistics are those of the current generated batch
(M = 40,000). ``train=True`` reproduces that (``batch_stats`` must then be mutable);
``train=False`` uses running averages, so a single sample does not depend on the others in its batch.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = [
    "FCGenerator",
    "DCGANGenerator",
    "DCGANCritic",
    "sample_latent",
    "make_sample_fn",
]


class FCGenerator(nn.Module):
  """Fully connected generator ``z (M, latent) -> y (M, out_dim)``.

  Attributes:
    out_dim: output dimension m.
    hidden: widths of the hidden layers (authors: ``(m, m)``; ``None`` means ``(out_dim, out_dim)``).
    output_activation: ``None`` (identity, for R^m) or ``"sigmoid"`` (for [0, 1]^m, e.g. the relaxed
      Hamming reproduction of a Bernoulli source).
    pre_activation_scale: multiplies the last pre-activation before the output non-linearity. With
      ``sigmoid`` a value like 10 spreads the initial outputs over [0, 1], which breaks the
      symmetry that otherwise collapses a Bernoulli/Hamming NERD to the zero-rate point
      (every sample would get the same gradient).
  """
  out_dim: int
  hidden: Optional[Sequence[int]] = None
  output_activation: Optional[str] = None
  pre_activation_scale: float = 1.0

  @nn.compact
  def __call__(self, z):
    hidden = tuple(self.hidden) if self.hidden is not None else (self.out_dim, self.out_dim)
    h = z
    for i, width in enumerate(hidden):
      h = nn.relu(nn.Dense(width, name=f"dense_{i}")(h))
    h = nn.Dense(self.out_dim, name=f"dense_{len(hidden)}")(h) * self.pre_activation_scale
    if self.output_activation is None or self.output_activation == "none":
      return h
    if self.output_activation == "sigmoid":
      return nn.sigmoid(h)
    raise ValueError(f"FCGenerator.output_activation must be None or 'sigmoid', got {self.output_activation!r}")


class DCGANGenerator(nn.Module):
  """DCGAN-style generator ``z (M, latent) -> images (M, H, H, C)`` in [0, 1] (NERD §IV, App. B).

  For ``image_size = 32`` (the paper): Dense(latent → 8c_d·2·2) → ReLU → reshape (2, 2, 8c_d) →
  ConvT(4c_d) → ReLU → BN → ConvT(2c_d) → ReLU → BN → ConvT(c_d) → ReLU → BN → ConvT(C) → sigmoid,
  every ConvT with kernel 4, stride 2, 'SAME' padding (≡ PyTorch k4 s2 p1). About 0.82 M
  parameters for c_d = 32, C = 1. Other sizes 2^k (k ≥ 2) use k − 2 intermediate blocks with widths
  ..., 4c_d, 2c_d, c_d.

  Attributes:
    channels: c_d (paper 32; App. B ablation 4, 8, 16, 32).
    out_channels: C (1 grey, 3 RGB).
    image_size: output side H, a power of two ≥ 4.
    bn_momentum: running-average momentum of BatchNorm (PyTorch 0.1 ↔ flax 0.9).
  """
  channels: int = 32
  out_channels: int = 1
  image_size: int = 32
  bn_momentum: float = 0.9

  @nn.compact
  def __call__(self, z, train: bool = True):
    n_up = int(round(math.log2(self.image_size))) - 1  # number of stride-2 upsamplings from 2×2
    if self.image_size < 4 or 2 ** (n_up + 1) != self.image_size:
      raise ValueError(f"DCGANGenerator.image_size must be a power of two >= 4, got {self.image_size}")
    width0 = self.channels * 2 ** (n_up - 1)
    h = nn.relu(nn.Dense(width0 * 2 * 2, name="project")(z))
    h = h.reshape((z.shape[0], 2, 2, width0))
    for i in range(n_up - 1):
      width = self.channels * 2 ** (n_up - 2 - i)
      h = nn.ConvTranspose(width, (4, 4), strides=(2, 2), padding="SAME", name=f"convt_{i}")(h)
      h = nn.relu(h)
      h = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum, epsilon=1e-5,
                       name=f"bn_{i}")(h)
    h = nn.ConvTranspose(self.out_channels, (4, 4), strides=(2, 2), padding="SAME",
                         name=f"convt_{n_up - 1}")(h)
    return nn.sigmoid(h)


class DCGANCritic(nn.Module):
  """WGAN critic ``images (B, H, H, C) -> scores (B,)`` mirroring :class:`DCGANGenerator` (the NERD authors' ``models.Critic``).

  For ``image_size = 32``: Conv(c_d) → Conv(2c_d) → Conv(4c_d) → Conv(8c_d), each kernel 4, stride 2,
  'SAME' padding (≡ PyTorch k4 s2 p1) and LeakyReLU(0.2), then Dense(1) on the flattened 2×2×8c_d.
  Other sizes 2^k use k − 1 convolutions with widths c_d, 2c_d, ....
  """
  channels: int = 32

  @nn.compact
  def __call__(self, x):
    side = x.shape[1]
    n_down = int(round(math.log2(side))) - 1
    if side < 4 or 2 ** (n_down + 1) != side or x.shape[2] != side:
      raise ValueError(f"DCGANCritic expects square images with a power-of-two side >= 4, got shape {x.shape}")
    h = x
    for i in range(n_down):
      h = nn.leaky_relu(nn.Conv(self.channels * 2 ** i, (4, 4), strides=(2, 2), padding="SAME", name=f"conv_{i}")(h),
                        0.2)
    return nn.Dense(1, name="score")(h.reshape((h.shape[0], -1)))[:, 0]


def sample_latent(key, num: int, latent_dim: int, dtype=jnp.float32):
  """z_1..z_num ~ N(0, I_latent), shape (num, latent_dim)."""
  return jax.random.normal(key, (num, latent_dim), dtype)


def make_sample_fn(module: nn.Module, variables, latent_dim: int, *, train_bn: bool = False,
                   flatten: bool = False) -> Callable[[jax.Array, int], jnp.ndarray]:
  """Returns ``sample_fn(key, num) = G(z)`` with ``z = sample_latent(key, num, latent_dim)``.

  For modules with BatchNorm (:class:`DCGANGenerator`), ``train_bn=True`` normalises with the
  statistics of the generated batch (authors' behaviour; the updated statistics are discarded) and
  ``train_bn=False`` uses the running averages. ``flatten=True`` reshapes outputs to (num, -1).
  The returned function is pure and jit-compatible (``num`` static).
  """
  has_train_arg = isinstance(module, DCGANGenerator)

  def sample_fn(key, num):
    z = sample_latent(key, num, latent_dim)
    if has_train_arg:
      if train_bn:
        y, _ = module.apply(variables, z, train=True, mutable=["batch_stats"])
      else:
        y = module.apply(variables, z, train=False)
    else:
      y = module.apply(variables, z)
    return y.reshape((num, -1)) if flatten else y

  return sample_fn
