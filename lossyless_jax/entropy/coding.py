"""Files of latents: ``compress`` / ``decompress`` for every entropy model, through its codec.

``codec_for(model_state)`` builds the codec (``codecs``) of exported coding tables from a
table of model kinds (no per-model branch): factorized (``EntropyBottleneck``), hyperprior
(``VectorHyperprior``: factorized side codec + Gaussian-conditional main codec) and the
masked-context model (``context.export``), each optionally behind ``AffinePrecision``. Files are
``container``'s ``LJXB`` format; the coder layer is ``range_coder``.

``model_state = {"params": variables["params"], "tables": build_tables(params)}`` (see
:func:`make_model_state`); ``decompress`` only needs ``model_state["tables"]``. Decoding computes
only exact integer and single IEEE operations, so a file decodes to the same bits on any machine.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from lossyless_jax.entropy import codecs
from lossyless_jax.entropy import context
from lossyless_jax.entropy import integer_net as inet
from lossyless_jax.entropy.codecs import DEFAULT_MAX_ELEMENTS
from lossyless_jax.entropy.range_coder import (  # noqa: F401  (re-exported: the coder's public API)
  MAX_ABS_SYMBOL,
  decode_categorical,
  decode_factorized_symbols,
  decode_gaussian_symbols,
  encode_categorical,
  encode_factorized_symbols,
  encode_gaussian_symbols,
  table_bits,
)
from lossyless_jax.entropy.tables import (
  KIND_CONTEXT,
  KIND_FACTORIZED,
  KIND_HYPERPRIOR,
  PRECISION,
  build_tables,
  check_tables_match_params,
  check_version,
  describe_params,
)

__all__ = [
  "encode_categorical",
  "decode_categorical",
  "make_model_state",
  "codec_for",
  "compress",
  "decompress",
  "quantize",
  "latent_symbols",
  "encode_factorized_symbols",
  "decode_factorized_symbols",
  "encode_gaussian_symbols",
  "decode_gaussian_symbols",
  "table_bits",
  "MAX_ABS_SYMBOL",
  "DEFAULT_MAX_ELEMENTS",
]


def make_model_state(params: Mapping[str, Any], **table_kwargs) -> dict[str, Any]:
  """``{"params": params, "tables": build_tables(params, **table_kwargs)}``."""
  return {"params": params, "tables": build_tables(params, **table_kwargs)}


def _factorized(tables, inner_params):
  return codecs.FactorizedCodec(tables["factorized"], codecs.latent_map(tables))


def _hyperprior(tables, inner_params):
  side = codecs.FactorizedCodec(tables["factorized"])
  main = codecs.GaussianConditionalCodec(tables["gaussian"], codecs.latent_map(tables))
  h_a = None if inner_params is None else inner_params["h_a"]
  return codecs.HyperpriorCodec(side, main, inet.IntMLP(tables["h_s"]), tables["gaussian"]["thresholds"], h_a)


def _vector(build):
  """The codec maker of a vector model: checks the tables (and, to encode, that they belong to the
  params, whose encoder-only parts it hands to ``build``)."""

  def make(model_state, encode: bool):
    tables = model_state["tables"]
    check_version(tables)
    if int(tables["precision"]) != PRECISION:
      raise ValueError(f"tables have precision {int(tables['precision'])}, coder needs {PRECISION}")
    inner = None
    if encode:
      params = model_state.get("params")
      if params is None:
        raise ValueError("compress needs model_state['params'] (the encoder-side weights)")
      check_tables_match_params(tables, params)
      inner = describe_params(params)[2]
    return codecs.VectorCodec(tables, build(tables, inner))

  return make


_CODECS = {
  KIND_FACTORIZED: _vector(_factorized),
  KIND_HYPERPRIOR: _vector(_hyperprior),
  KIND_CONTEXT: lambda model_state, encode: context.ContextCodec(model_state["tables"]),
}


def codec_for(model_state: Mapping[str, Any], *, encode: bool = False):
  """The codec of ``model_state["tables"]`` (with ``encode``, checked against
  ``model_state["params"]``, whose encoder-only parts it uses)."""
  if not isinstance(model_state, Mapping) or "tables" not in model_state:
    raise ValueError("model_state must be a dict with 'tables' (and 'params' to encode); see make_model_state")
  tables = model_state["tables"]
  kind = int(np.asarray(tables.get("kind", 0))) if isinstance(tables, Mapping) else 0
  if kind not in _CODECS:
    raise ValueError(f"tables of unknown model kind {kind} (known: {sorted(_CODECS)})")
  return _CODECS[kind](model_state, encode)


def latent_symbols(model_state: Mapping[str, Any], latents) -> dict[str, np.ndarray]:
  """The integer symbols ``compress`` codes: ``{"symbols": (N, d) int32}`` (the main latent's),
  ``"y_hat"`` (what ``decompress`` returns) and, for a hyperprior, ``"side_symbols"``,
  ``"scale_indices"`` and ``"scales"`` (the integer ``h_s`` scales, before the 0.11 bound)."""
  codec = codec_for(model_state, encode=True)
  coded = codec.encode(latents)
  out = {"symbols": coded.symbols[-1], "y_hat": coded.y_hat}
  if "gaussian" in coded.info:
    prm = coded.info["gaussian"]
    out["side_symbols"] = coded.symbols[0]
    out["scale_indices"] = prm.index
    out["scales"] = np.ldexp(prm.scale_q.astype(np.float64), -inet.FRAC_ACT)
  return out


def quantize(model_state: Mapping[str, Any], latents) -> np.ndarray:
  """The latents that ``decompress(compress(latents))`` returns, without writing a file."""
  return codec_for(model_state, encode=True).encode(latents).y_hat


def compress(model_state: Mapping[str, Any], latents, **options) -> bytes:
  """Latents (``(..., d)`` for vector models, ``(H, W, C)`` for the context model, whose
  ``cond`` / ``side`` go in ``options``) -> a self-checking file (``container.py``)."""
  return codecs.write(codec_for(model_state, encode=True), latents, **options)


def decompress(model_state: Mapping[str, Any], data: bytes, *, max_elements: int = DEFAULT_MAX_ELEMENTS, **options):
  """File -> the latents (float32, the shape given to ``compress``); ``options`` as the codec takes
  (the context model's ``cond``, ``side``, ``schedule``, ``engine``).

  Raises a ``container.BitstreamError`` subclass for truncated, corrupted, foreign-model or
  unsupported-version input (``CorruptedBitstreamError`` also for a header announcing more
  than ``max_elements`` latent elements); never returns wrong latents silently.
  """
  return codecs.read(codec_for(model_state), data, max_elements=max_elements, **options)
