"""Codecs: one per entropy model, each turning latents into named streams and back, and
composable (the hyperprior is a factorized side codec plus a Gaussian-conditional main codec).

A codec is bound to the exported coding state of its model (``tables.build_tables``,
``context.export``) and has

- ``kind``, ``fingerprint``, ``streams`` (the names of the payloads it writes, in order);
- ``encode(y, **options) -> Coded``: the payloads, the coded symbols (in coding order, for the
  file's symbol CRC) and ``y_hat``, the latents the decoder will return;
- ``decode(payloads, shape, **options) -> Coded``;
- ``check_shape(shape)``: raises ``ValueError`` for a latent shape the model cannot hold.

:func:`write` and :func:`read` put any codec's streams in a file (``container``) and back, with
the fingerprint, shape and symbol CRC: there is no per-model branch in the file path.

**Exactness.** Everything the decoder computes is exact and machine-independent: integer tables
(``tables``), medians and offsets stored as float32 (``k + offset`` is one IEEE-754 addition), the
hyperprior's ``h_s`` as an exported integer network (``integer_net``), and the affine wrapper's
inverse with ``exp(s)`` stored at export (one division and one subtraction). Encoder-only parts
(``h_a``, the affine forward map) run with JAX on the CPU backend; their results are sent as
symbols, so they need not be reproducible elsewhere.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

import jax
import numpy as np

from lossyless_jax.entropy import container
from lossyless_jax.entropy import integer_net as inet
from lossyless_jax.entropy import range_coder as rc
from lossyless_jax.entropy.affine import affine_forward
from lossyless_jax.entropy.container import CorruptedBitstreamError
from lossyless_jax.entropy.hyperprior import mlp_apply
from lossyless_jax.entropy.tables import verify_fingerprint

__all__ = [
  "DEFAULT_MAX_ELEMENTS",
  "Coded",
  "IdentityMap",
  "AffineMap",
  "FactorizedCodec",
  "GaussianConditionalCodec",
  "HyperpriorCodec",
  "round_symbols",
  "on_cpu",
  "write",
  "read",
]

DEFAULT_MAX_ELEMENTS = 1 << 28  # read() refuses headers announcing more latent elements
_MAX_LATENT_SYMBOL = 1 << 30  # |round(z - offset)| limit of encoding


@dataclasses.dataclass
class Coded:
  """What a codec wrote or read: ``payloads`` (one per stream), ``symbols`` (coding order),
  ``y_hat`` (float32 latents) and ``info`` (the entropy parameters it used, for rate reports)."""

  payloads: list
  symbols: list
  y_hat: np.ndarray
  info: dict = dataclasses.field(default_factory=dict)


# ----------------------------------------------------------------------------- CPU helpers
def _cpu_device():
  try:
    return jax.devices("cpu")[0]
  except RuntimeError as e:
    raise RuntimeError(
      "entropy coding runs h_a and the affine map on JAX's CPU backend; "
      "do not exclude 'cpu' from JAX_PLATFORMS (e.g. use 'cuda,cpu')"
    ) from e


def on_cpu(fn, *args) -> Any:
  """``fn(*args)`` with JAX on the CPU backend, as NumPy arrays."""
  cpu = _cpu_device()
  args = jax.device_put(args, cpu)
  with jax.default_device(cpu):
    out = fn(*args)
  return jax.tree_util.tree_map(np.asarray, out)


_mlp_jit = jax.jit(mlp_apply)
_affine_forward_jit = jax.jit(affine_forward)


@jax.jit
def _affine_round_jit(z, scaling, biasing, offset):
  # the same expression as AffinePrecision + eval-mode rounding, so XLA compiles it the same way
  # (e.g. the same FMA contraction of (z + b)·exp(s) - offset)
  return jax.numpy.round(affine_forward(z, scaling, biasing) - offset)


def _check_range(diff: np.ndarray, what: str) -> None:
  if diff.size and np.max(np.abs(diff)) >= _MAX_LATENT_SYMBOL:
    raise ValueError(f"{what} too far from its rounding offset to be coded (|{what} - offset| must be < 2**30)")


def round_symbols(x: np.ndarray, offset: np.ndarray, what: str) -> np.ndarray:
  """``round(x - offset)`` (half to even) as int32; refuses ``|x - offset| >= 2**30``."""
  diff = x - offset
  _check_range(diff, what)
  return np.rint(diff).astype(np.int32)


# ----------------------------------------------------------------------------- latent maps
class IdentityMap:
  """Latents coded as they are."""

  def forward(self, z: np.ndarray) -> np.ndarray:
    return z

  def round(self, z: np.ndarray, offset: np.ndarray, what: str) -> np.ndarray:
    return round_symbols(z, offset, what)

  def inverse(self, y: np.ndarray) -> np.ndarray:
    return y


class AffineMap:
  """``AffinePrecision``'s ``(z + b)·exp(s)`` (lossyless paper §2.6): forward and rounding with the
  module's XLA expression (encoder), inverse ``y / exp(s) - b`` with ``exp(s)`` stored at export."""

  def __init__(self, section: Mapping[str, np.ndarray]):
    self.s = np.asarray(section["scaling"], np.float32)
    self.b = np.asarray(section["biasing"], np.float32)
    self.e = np.asarray(section["exp_scaling"], np.float32)

  def forward(self, z: np.ndarray) -> np.ndarray:
    return on_cpu(_affine_forward_jit, z, self.s, self.b)

  def round(self, z: np.ndarray, offset: np.ndarray, what: str) -> np.ndarray:
    _check_range(self.forward(z) - offset, what)
    return on_cpu(_affine_round_jit, z, self.s, self.b, offset).astype(np.int32)

  def inverse(self, y: np.ndarray) -> np.ndarray:
    return np.asarray(y, np.float32) / self.e - self.b


def latent_map(tables: Mapping[str, Any]):
  return AffineMap(tables["affine"]) if "affine" in tables else IdentityMap()


# ----------------------------------------------------------------------------- codecs
class FactorizedCodec:
  """Per-channel tables around the medians (``EntropyBottleneck``); latents ``(N, C)``."""

  streams = ("latent",)

  def __init__(self, section: Mapping[str, Any], lmap=None):
    self.section = section
    self.medians = np.asarray(section["medians"], np.float32)
    self.lmap = lmap or IdentityMap()

  def encode(self, z: np.ndarray, what: str = "latent") -> Coded:
    k = self.lmap.round(z, self.medians, what)
    return Coded([rc.encode_factorized_symbols(k, self.section)], [k], self._y_hat(k))

  def decode(self, payloads: Sequence[bytes], n: int) -> Coded:
    k = rc.decode_factorized_symbols(payloads[0], self.section, n)
    return Coded(list(payloads), [k], self._y_hat(k))

  def _y_hat(self, k: np.ndarray) -> np.ndarray:
    return self.lmap.inverse(k.astype(np.float32) + self.medians)


class GaussianConditionalCodec:
  """Gaussian tables chosen per element by the integer scale of :class:`integer_net.GaussianParams`,
  symbols ``round(y - mean)`` with the mean on the 2^-8 grid."""

  streams = ("latent",)

  def __init__(self, section: Mapping[str, Any], lmap=None):
    self.section = section
    self.lmap = lmap or IdentityMap()

  def encode(self, z: np.ndarray, prm: inet.GaussianParams) -> Coded:
    k = self.lmap.round(z, _mean(prm), "latent")
    return Coded([rc.encode_gaussian_symbols(k, prm.index, self.section)], [k], self._y_hat(k, prm))

  def decode(self, payloads: Sequence[bytes], prm: inet.GaussianParams) -> Coded:
    k = rc.decode_gaussian_symbols(payloads[0], prm.index, self.section)
    return Coded(list(payloads), [k], self._y_hat(k, prm))

  def _y_hat(self, k: np.ndarray, prm: inet.GaussianParams) -> np.ndarray:
    return self.lmap.inverse((k.astype(np.float64) + _mean(prm)).astype(np.float32))


def _mean(prm: inet.GaussianParams) -> np.ndarray:
  return np.ldexp(prm.mean_q.astype(np.float64), -inet.FRAC_IN)


class HyperpriorCodec:
  """``VectorHyperprior``: a factorized codec for the side information ``h_a(z)``, then a
  Gaussian-conditional codec for ``z`` under the integer ``h_s(ŝ)`` (lossyless paper §3.2)."""

  def __init__(self, side: FactorizedCodec, main: GaussianConditionalCodec, h_s: inet.IntMLP, thresholds, h_a=None):
    self.side, self.main, self.h_s, self.h_a = side, main, h_s, h_a
    self.thresholds = np.asarray(thresholds, np.int64)
    self.streams = tuple(f"side/{s}" for s in side.streams) + main.streams

  def parameters(self, side_hat: np.ndarray) -> inet.GaussianParams:
    """The integer Gaussian parameters of ``z`` from the decoded side information."""
    out = self.h_s(inet.to_grid(np.clip(side_hat, -inet.ACT_BOUND + 1, inet.ACT_BOUND - 1), "side information"))
    return inet.gaussian_parameters(out, self.h_s.fan_out // 2, self.thresholds)

  def encode(self, z: np.ndarray) -> Coded:
    if self.h_a is None:
      raise ValueError("encoding with a hyperprior needs its h_a parameters")
    side = on_cpu(_mlp_jit, self.h_a, self.main.lmap.forward(z))
    s = self.side.encode(side, "side information")
    prm = self.parameters(s.y_hat)
    m = self.main.encode(z, prm)
    return Coded(s.payloads + m.payloads, s.symbols + m.symbols, m.y_hat, {"gaussian": prm})

  def decode(self, payloads: Sequence[bytes], n: int) -> Coded:
    k = len(self.side.streams)
    s = self.side.decode(payloads[:k], n)
    m = self.main.decode(payloads[k:], self.parameters(s.y_hat))
    return Coded(list(payloads), s.symbols + m.symbols, m.y_hat)


class VectorCodec:
  """Adapts a codec of ``(N, d)`` latents to latents of any batch shape ``(..., d)``."""

  def __init__(self, tables: Mapping[str, Any], inner):
    self.kind = int(tables["kind"])
    self.fingerprint = verify_fingerprint(tables)
    self.dim = int(tables["dim"])
    self.inner = inner
    self.streams = inner.streams

  def check_shape(self, shape: tuple[int, ...]) -> None:
    if len(shape) < 1 or shape[-1] != self.dim:
      raise ValueError(f"latents must have shape (..., {self.dim}) for these tables, got {shape}")
    if len(shape) > container.MAX_NDIM:
      raise ValueError(f"latents may have at most {container.MAX_NDIM} axes, got {len(shape)}")

  def latents(self, y) -> np.ndarray:
    z = np.asarray(y)
    if not np.issubdtype(z.dtype, np.floating):
      raise ValueError(f"latents must be floating point, got {z.dtype}")
    self.check_shape(z.shape)
    z = z.astype(np.float32, copy=False)
    if not np.all(np.isfinite(z)):
      raise ValueError("latents contain NaN or inf")
    return z.reshape(-1, self.dim)

  def check_options(self, **options) -> None:
    if options:
      raise TypeError(f"this codec takes no options, got {sorted(options)}")

  def encode(self, y) -> Coded:
    coded = self.inner.encode(self.latents(y))
    coded.y_hat = coded.y_hat.reshape(np.shape(y))
    return coded

  def decode(self, payloads: Sequence[bytes], shape: tuple[int, ...]) -> Coded:
    coded = self.inner.decode(payloads, math.prod(shape) // self.dim)
    coded.y_hat = np.asarray(coded.y_hat, np.float32).reshape(shape)
    return coded


# ----------------------------------------------------------------------------- files
def write(codec, y, **options) -> bytes:
  """``codec.encode(y, **options)`` in a self-checking file (``container``)."""
  coded = codec.encode(y, **options)
  shape = tuple(int(s) for s in coded.y_hat.shape)
  crc = container.symbols_crc(shape, *coded.symbols)
  return container.pack(codec.kind, codec.fingerprint, shape, coded.payloads, crc)


def read(codec, data: bytes, *, max_elements: int = DEFAULT_MAX_ELEMENTS, **options) -> np.ndarray:
  """The latents of a file written by :func:`write` with the same model.

  Raises a ``container.BitstreamError`` subclass for truncated, corrupted, foreign-model or
  unsupported-version input (``CorruptedBitstreamError`` also for a header announcing more
  than ``max_elements`` latent elements); never returns wrong latents silently.
  """
  codec.check_options(**options)
  header, payloads = container.unpack(data, expected_fingerprint=codec.fingerprint, expected_kind=codec.kind)
  shape = header.shape
  try:
    codec.check_shape(shape)
  except ValueError as e:
    raise CorruptedBitstreamError(f"header describes a latent these tables cannot hold: {e}") from e
  if len(payloads) != len(codec.streams):
    raise CorruptedBitstreamError(f"file holds {len(payloads)} payloads; the model writes {len(codec.streams)}")
  if math.prod(shape) > max_elements:
    raise CorruptedBitstreamError(
      f"header announces {math.prod(shape)} latent elements, more than max_elements={max_elements}"
    )
  with np.errstate(all="ignore"):
    coded = rc.guarded_decode(lambda: codec.decode(payloads, shape, **options))
  if container.symbols_crc(shape, *coded.symbols) != header.symbols_crc:
    raise CorruptedBitstreamError("decoded symbols fail the encoder's symbol CRC")
  return coded.y_hat
