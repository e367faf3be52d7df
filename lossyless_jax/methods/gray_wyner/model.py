"""The five codecs of the learnable Gray-Wyner network (Gray-Wyner paper §3.5, §4.1, Fig. 8).

``E`` = ``latent_channels``, ``C = E/2``; every encoder reads the whole input ``X`` (``M``
channels: the two synthetic sources stacked, or the RGB image) and its output is quantized by
the straight-through round-half-toward-zero of §3.2, in training and evaluation alike.

* ``shared`` (proposed): two Analysis(E) encoders; each output splits into a common candidate
  ``[:C]`` and a private latent ``[C:]``; ``Y0`` = combine-and-mask of the candidates (Eq. 14).
* ``separated``: three Analysis(C) encoders for ``Y0, Y1, Y2``.
* ``combined``: one Analysis(3C) encoder, channels ``[Y1 | Y2 | Y0]``.
* ``independent``: two Analysis(E) encoders, ``Y1, Y2``, no common channel.
* ``joint``: one Analysis(E) encoder, one latent ``Y`` that both decoders read.

Entropy models (§3.4): ``h0`` = context model of ``Y0`` (or of Joint's ``Y``); ``h1, h2`` =
context models of ``Y1, Y2`` conditioned on ``Y0`` (unconditioned for Independent). They are
`entropy.context.ContextModel`, whose docstring lists its deviations from §3.4 forced by exact
integer coding. Decoders ``g_i`` read ``concat(Y0, Y_i)`` (common first); task heads follow them
(synthetic: `SyntheticTaskHead` per regression, §4.1; coloured digits: `MLPHead` for the digit and
the colour, §4.2). On Cityscapes (§4.3) the codec has no trainable head: the decoders output the
images ``X̂1, X̂2`` that the frozen task networks read (`methods.gray_wyner.cityscapes`).

**Quantization.** Latents are the integers ``q(y)`` (§3.2). The entropy models run with
``train_quantization="ste_half_toward_zero"`` and ``train=True`` always, so the likelihood is the
one of §3.4 ("dequantize": evaluated at ``q(ŷ − μ) + μ``, with ``ŷ`` the integer latent) in
training and evaluation, and the context input is the integer latent itself. The decoders and the
conditioning of ``h1, h2`` read the integer latents, as in §3.5. The range coder reconstructs
``k + μ`` (``μ`` on a 2^-8 grid, |k + μ − ŷ| ≤ ½); the report codes ``ŷ + 2^-10`` so that no
symbol is a tie and recovers ``ŷ = rint(k + μ − 2^-10)`` exactly (`report`).
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lossyless_jax.entropy.context import ContextModel
from lossyless_jax.entropy.quantization import quantize
from lossyless_jax.losses import gray_wyner as gw_loss
from lossyless_jax.nets import gray_wyner as nets

CODECS = gw_loss.CODECS
TRANSFORMS = ("conv", "pixel_shuffle")
TASKS = ("synthetic", "coloured_digits", "cityscapes")
QUANTIZATION = "ste_half_toward_zero"
HAS_COMMON = ("shared", "separated", "combined")


def q(y: jax.Array) -> jax.Array:
  """§3.2: straight-through round half toward zero (exact integer forward, identity backward)."""
  return quantize(y, QUANTIZATION)


def entropy_models(codec: str, latent_channels: int) -> dict[str, ContextModel]:
  """Name -> context model of each latent of ``codec`` (names as the parameters' subtrees)."""
  e = int(latent_channels)
  c = e // 2
  if codec in HAS_COMMON:
    return {"h0": ContextModel(c, train_quantization=QUANTIZATION),
            "h1": ContextModel(c, cond_channels=c, train_quantization=QUANTIZATION),
            "h2": ContextModel(c, cond_channels=c, train_quantization=QUANTIZATION)}
  if codec == "independent":
    return {"h1": ContextModel(e, train_quantization=QUANTIZATION),
            "h2": ContextModel(e, train_quantization=QUANTIZATION)}
  return {"h0": ContextModel(e, train_quantization=QUANTIZATION)}


def _fields(model: ContextModel) -> dict:
  return dict(channels=model.channels, cond_channels=model.cond_channels, train_quantization=model.train_quantization)


# latent key (losses.gray_wyner.CHANNELS) -> entropy model name
LATENT_MODEL = {"y0": "h0", "y": "h0", "y1": "h1", "y2": "h2"}


class GrayWyner(nn.Module):
  """One codec of §3.5 with its task heads. Methods: :meth:`encode`, :meth:`likelihoods`,
  :meth:`decode`, :meth:`heads`; ``__call__`` runs them all (initialisation)."""

  codec: str = "shared"
  latent_channels: int = 6
  input_channels: int = 3
  transform: str = "conv"
  channels: Sequence[int] = (24, 48, 192)
  num_blocks: int = 3
  res_kernel: int = 3
  task: str = "coloured_digits"
  head_hidden: int | None = None
  num_classes: int = 10

  def _analysis(self, out: int):
    if self.transform == "pixel_shuffle":
      native = 256 * self.input_channels  # four ×2 unshuffles
      return nets.PixelShuffleAnalysis(self.num_blocks, None if out == native else out, self.res_kernel)
    return nets.AnalysisTransform(out, tuple(self.channels), self.num_blocks, res_kernel=self.res_kernel)

  def _synthesis(self):
    if self.transform == "pixel_shuffle":
      return nets.PixelShuffleSynthesis(self.num_blocks, self.res_kernel)
    return nets.SynthesisTransform(self.input_channels, tuple(reversed(tuple(self.channels))), self.num_blocks,
                                   res_kernel=self.res_kernel)

  def _head(self):
    if self.task == "cityscapes":
      return None
    if self.task == "synthetic":
      return nets.SyntheticTaskHead(self.res_kernel)
    return nets.MLPHead(self.num_classes, self.head_hidden)

  def setup(self):
    e = int(self.latent_channels)
    c = e // 2
    if self.codec == "shared":
      self.f1, self.f2 = self._analysis(e), self._analysis(e)
    elif self.codec == "separated":
      self.f0, self.f1, self.f2 = self._analysis(c), self._analysis(c), self._analysis(c)
    elif self.codec == "combined":
      self.f = self._analysis(3 * c)
    elif self.codec == "independent":
      self.f1, self.f2 = self._analysis(e), self._analysis(e)
    elif self.codec == "joint":
      self.f = self._analysis(e)
    else:
      raise ValueError(f"codec must be one of {', '.join(CODECS)}, got {self.codec!r}")
    models = entropy_models(self.codec, e)
    self.h0 = ContextModel(**_fields(models["h0"])) if "h0" in models else None
    self.h1 = ContextModel(**_fields(models["h1"])) if "h1" in models else None
    self.h2 = ContextModel(**_fields(models["h2"])) if "h2" in models else None
    self.g1, self.g2 = self._synthesis(), self._synthesis()
    self.task1, self.task2 = self._head(), self._head()

  def encode(self, x: jax.Array):
    """``(latents, candidates)``: integer latents keyed as `losses.gray_wyner.CHANNELS`, and the
    Shared codec's quantized common candidates ``(Y0¹, Y0²)`` (None for the other codecs)."""
    c = int(self.latent_channels) // 2
    if self.codec == "shared":
      a, b = q(self.f1(x)), q(self.f2(x))
      cands = (a[..., :c], b[..., :c])
      return {"y0": gw_loss.combine_and_mask(*cands), "y1": a[..., c:], "y2": b[..., c:]}, cands
    if self.codec == "separated":
      return {"y0": q(self.f0(x)), "y1": q(self.f1(x)), "y2": q(self.f2(x))}, None
    if self.codec == "combined":
      y = q(self.f(x))
      return {"y1": y[..., :c], "y2": y[..., c:2 * c], "y0": y[..., 2 * c:]}, None
    if self.codec == "independent":
      return {"y1": q(self.f1(x)), "y2": q(self.f2(x))}, None
    return {"y": q(self.f(x))}, None

  def likelihoods(self, latents: dict) -> dict:
    """Per-element likelihoods of each latent (§3.4; private models conditioned on ``Y0``)."""
    out = {}
    if "y" in latents:
      out["y"] = self.h0(latents["y"], train=True)[1]
      return out
    cond = latents.get("y0")
    if cond is not None:
      out["y0"] = self.h0(cond, train=True)[1]
    out["y1"] = self.h1(latents["y1"], cond=cond, train=True)[1]
    out["y2"] = self.h2(latents["y2"], cond=cond, train=True)[1]
    return out

  def decode(self, latents: dict):
    """``(X̂1, X̂2)``: ``g_i(concat(Y0, Y_i))`` (Independent ``g_i(Y_i)``, Joint ``g_i(Y)``)."""
    if "y" in latents:
      return self.g1(latents["y"]), self.g2(latents["y"])
    if "y0" in latents:
      return (self.g1(jnp.concatenate([latents["y0"], latents["y1"]], -1)),
              self.g2(jnp.concatenate([latents["y0"], latents["y2"]], -1)))
    return self.g1(latents["y1"]), self.g2(latents["y2"])

  def heads(self, x1: jax.Array, x2: jax.Array):
    """The task heads' outputs (Cityscapes: the decoded images themselves, for the frozen nets)."""
    if self.task1 is None:
      return x1, x2
    return self.task1(x1), self.task2(x2)

  def decode_and_predict(self, latents: dict):
    return self.heads(*self.decode(latents))

  def __call__(self, x: jax.Array):
    latents, cands = self.encode(x)
    lik = self.likelihoods(latents)
    x1, x2 = self.decode(latents)
    return latents, cands, lik, (x1, x2), self.heads(x1, x2)
