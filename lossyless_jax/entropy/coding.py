"""File-level ``compress`` / ``decompress`` of factorized and hyperprior latents (the ``LJXB`` files
of ``container``), over the range coder of ``range_coder``.

**Coder.** ``range_coder``: 24-bit tables, escapes, runs (the layer under every codec).

**Hyperprior.** ``h_a`` (encoder only) and ``h_s`` run with JAX on the CPU backend, and
scales map to table indices by comparisons against stored float64 boundaries, so encoder and
decoder compute the same indices; if another machine's arithmetic ever disagreed, the
symbol CRC in the file turns that into a ``CorruptedBitstreamError`` instead of a wrong
decode.

``model_state = {"params": variables["params"], "tables": build_tables(params)}`` (see
:func:`make_model_state`); ``decompress`` only needs ``model_state["tables"]``.
"""

from __future__ import annotations

import zlib
from typing import Any, Mapping

import jax
import numpy as np

from lossyless_jax.entropy import container
from lossyless_jax.entropy.affine import affine_forward, affine_inverse
from lossyless_jax.entropy.container import CorruptedBitstreamError
from lossyless_jax.entropy.gaussian import scale_to_index
from lossyless_jax.entropy.hyperprior import mlp_apply
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
  KIND_FACTORIZED,
  PRECISION,
  build_tables,
  check_tables_match_params,
  describe_params,
  verify_fingerprint,
)

__all__ = [
  "encode_categorical",
  "decode_categorical",
  "make_model_state",
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

_MAX_LATENT_SYMBOL = 1 << 30  # |round(z - offset)| limit of compress
DEFAULT_MAX_ELEMENTS = 1 << 28  # decompress refuses headers announcing more


# ----------------------------------------------------------------------------- CPU model parts
def _cpu_device():
  try:
    return jax.devices("cpu")[0]
  except RuntimeError as e:
    raise RuntimeError(
      "entropy coding runs h_a / h_s / the affine map on JAX's CPU backend; "
      "do not exclude 'cpu' from JAX_PLATFORMS (e.g. use 'cuda,cpu')"
    ) from e


_mlp_jit = jax.jit(mlp_apply)
_affine_forward_jit = jax.jit(affine_forward)
_affine_inverse_jit = jax.jit(affine_inverse)


@jax.jit
def _affine_round_jit(z, scaling, biasing, offset):
  # the same expression as AffinePrecision + eval-mode rounding, so XLA compiles it the same
  # way (e.g. the same FMA contraction of (z + b)·exp(s) - offset)
  return jax.numpy.round(affine_forward(z, scaling, biasing) - offset)


def _on_cpu(fn, *args) -> Any:
  cpu = _cpu_device()
  args = jax.device_put(args, cpu)
  with jax.default_device(cpu):
    out = fn(*args)
  return jax.tree_util.tree_map(np.asarray, out)


def make_model_state(params: Mapping[str, Any], **table_kwargs) -> dict[str, Any]:
  """``{"params": params, "tables": build_tables(params, **table_kwargs)}``."""
  return {"params": params, "tables": build_tables(params, **table_kwargs)}


def _latent_array(latents, dim: int) -> tuple[np.ndarray, tuple[int, ...]]:
  z = np.asarray(latents)
  if not np.issubdtype(z.dtype, np.floating):
    raise ValueError(f"latents must be floating point, got {z.dtype}")
  z = z.astype(np.float32, copy=False)
  if z.ndim < 1 or z.shape[-1] != dim:
    raise ValueError(f"latents must have shape (..., {dim}) for these tables, got {z.shape}")
  if z.ndim > container.MAX_NDIM:
    raise ValueError(f"latents may have at most {container.MAX_NDIM} axes, got {z.ndim}")
  if not np.all(np.isfinite(z)):
    raise ValueError("latents contain NaN or inf")
  return z.reshape(-1, dim), z.shape


def round_symbols(
  x: np.ndarray, offset: np.ndarray, what: str, affine: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
  """``round(x - offset)`` as int32; with ``affine=(z, s, b)``, ``x`` is ``affine_forward(z)``
  and the rounding is computed by the same XLA expression as in the module."""
  diff = x - offset
  if diff.size and np.max(np.abs(diff)) >= _MAX_LATENT_SYMBOL:
    raise ValueError(f"{what} too far from its rounding offset to be coded (|{what} - offset| must be < 2**30)")
  if affine is not None:
    return _on_cpu(_affine_round_jit, *affine, offset).astype(np.int32)
  return np.rint(diff).astype(np.int32)


def _state_parts(model_state: Mapping[str, Any], need_params: bool):
  if not isinstance(model_state, Mapping) or "tables" not in model_state:
    raise ValueError("model_state must be a dict with 'tables' (and 'params' to encode); see make_model_state")
  tables = model_state["tables"]
  fp = verify_fingerprint(tables)
  params = model_state.get("params")
  if need_params:
    if params is None:
      raise ValueError("compress needs model_state['params'] (the encoder-side weights)")
    check_tables_match_params(tables, params)
  if int(tables["precision"]) != PRECISION:
    raise ValueError(f"tables have precision {int(tables['precision'])}, coder needs {PRECISION}")
  return tables, params, fp


def latent_symbols(model_state: Mapping[str, Any], latents) -> dict[str, np.ndarray]:
  """The integer symbols ``compress`` codes, plus the side results it needs.

  Returns ``{"z_in": (N, d) float32, "symbols": (N, d) int32, "offsets": (N, d) or (d,)
  float32}`` and for a hyperprior also ``"side_symbols"``, ``"side_offsets"``,
  ``"scale_indices"``, ``"scales"``.
  """
  tables, params, _ = _state_parts(model_state, need_params=True)
  return _latent_symbols(tables, params, latents)


def _latent_symbols(tables, params, latents) -> dict[str, np.ndarray]:
  kind, affine, inner = describe_params(params)
  z_raw, _ = _latent_array(latents, int(tables["dim"]))
  z, aff = z_raw, None
  if affine:
    s, b = tables["affine"]["scaling"], tables["affine"]["biasing"]
    z, aff = _on_cpu(_affine_forward_jit, z_raw, s, b), (z_raw, s, b)
  med = tables["factorized"]["medians"]
  if kind == KIND_FACTORIZED:
    return {"z_in": z, "symbols": round_symbols(z, med, "latent", aff), "offsets": med}
  side = _on_cpu(_mlp_jit, inner["h_a"], z)
  ks = round_symbols(side, med, "side information")
  side_hat = ks.astype(np.float32) + med
  scales, means = _hyper_synthesis(tables, side_hat)
  idx = scale_to_index(scales, tables["gaussian"]["boundaries"])
  return {
    "z_in": z,
    "symbols": round_symbols(z, means, "latent", aff),
    "offsets": means,
    "side_symbols": ks,
    "side_offsets": med,
    "scale_indices": idx,
    "scales": scales,
  }


def _hyper_synthesis(tables, side_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  out = _on_cpu(_mlp_jit, tables["h_s"], side_hat)
  dim = int(tables["dim"])
  if out.shape[-1] != 2 * dim:
    raise ValueError(f"h_s outputs {out.shape[-1]} features, expected 2 * {dim}")
  scales = np.ascontiguousarray(out[:, :dim])
  means = np.ascontiguousarray(out[:, dim:])
  if not (np.all(np.isfinite(scales)) and np.all(np.isfinite(means))):
    raise ValueError("hyper-synthesis produced NaN or inf")
  return scales, means


def symbols_crc(shape: tuple[int, ...], *arrays: np.ndarray) -> int:
  """The symbol CRC of the file format (``container.py``): seeded with the latent shape."""
  crc = container.symbols_crc_seed(shape)
  for a in arrays:
    crc = zlib.crc32(np.ascontiguousarray(a).astype("<i4").tobytes(), crc)
  return crc


def _dequantize(tables, symbols: np.ndarray, offsets: np.ndarray, shape) -> np.ndarray:
  z = symbols.astype(np.float32) + offsets
  if "affine" in tables:
    z = _on_cpu(_affine_inverse_jit, z, tables["affine"]["scaling"], tables["affine"]["biasing"])
  return np.asarray(z, np.float32).reshape(shape)


def quantize(model_state: Mapping[str, Any], latents) -> np.ndarray:
  """The eval-mode quantized latents that ``decompress(compress(latents))`` returns, without
  coding. Equals the module's eval output computed on the CPU backend."""
  tables, params, _ = _state_parts(model_state, need_params=True)
  parts = _latent_symbols(tables, params, latents)
  return _dequantize(tables, parts["symbols"], parts["offsets"], np.shape(latents))


def compress(model_state: Mapping[str, Any], latents) -> bytes:
  """Latents ``(..., d)`` (any batch shape) -> a self-checking file (``container.py``)."""
  tables, params, fp = _state_parts(model_state, need_params=True)
  parts = _latent_symbols(tables, params, latents)
  shape = tuple(int(s) for s in np.shape(latents))
  kind = int(tables["kind"])
  if kind == KIND_FACTORIZED:
    payloads = [encode_factorized_symbols(parts["symbols"], tables["factorized"])]
    crc = symbols_crc(shape, parts["symbols"])
  else:
    payloads = [
      encode_factorized_symbols(parts["side_symbols"], tables["factorized"]),
      encode_gaussian_symbols(parts["symbols"], parts["scale_indices"], tables["gaussian"]),
    ]
    crc = symbols_crc(shape, parts["side_symbols"], parts["symbols"])
  return container.pack(kind, fp, shape, payloads, crc)


def decompress(model_state: Mapping[str, Any], data: bytes, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
  """File -> the eval-mode quantized latents (float32, the shape given to ``compress``).

  Raises a ``container.BitstreamError`` subclass for truncated, corrupted, foreign-model or
  unsupported-version input (``CorruptedBitstreamError`` also for a header announcing more
  than ``max_elements`` latent elements); never returns wrong latents silently.
  """
  tables, _, fp = _state_parts(model_state, need_params=False)
  kind = int(tables["kind"])
  header, payloads = container.unpack(data, expected_fingerprint=fp, expected_kind=kind)
  dim = int(tables["dim"])
  shape = header.shape
  num = 1
  for s in shape:
    num *= s
  expected_payloads = 1 if kind == KIND_FACTORIZED else 2
  if shape[-1] != dim or len(payloads) != expected_payloads:
    raise CorruptedBitstreamError(
      f"header describes shape {shape} with {len(payloads)} "
      f"payloads; the tables expect (..., {dim}) and "
      f"{expected_payloads}"
    )
  if num > max_elements:
    raise CorruptedBitstreamError(f"header announces {num} latent elements, more than max_elements={max_elements}")
  try:
    return _decode_latents(tables, kind, header, payloads, num // dim)
  except container.BitstreamError:
    raise
  except (ValueError, OverflowError, FloatingPointError) as e:
    raise CorruptedBitstreamError(f"payload decodes to invalid values: {e}") from e


def _decode_latents(tables, kind, header, payloads, n) -> np.ndarray:
  med = tables["factorized"]["medians"]
  if kind == KIND_FACTORIZED:
    k = decode_factorized_symbols(payloads[0], tables["factorized"], n)
    if symbols_crc(header.shape, k) != header.symbols_crc:
      raise CorruptedBitstreamError("decoded symbols fail the encoder's symbol CRC")
    return _dequantize(tables, k, med, header.shape)
  ks = decode_factorized_symbols(payloads[0], tables["factorized"], n)
  side_hat = ks.astype(np.float32) + med
  with np.errstate(all="ignore"):
    scales, means = _hyper_synthesis(tables, side_hat)
  idx = scale_to_index(scales, tables["gaussian"]["boundaries"])
  k = decode_gaussian_symbols(payloads[1], idx, tables["gaussian"])
  if symbols_crc(header.shape, ks, k) != header.symbols_crc:
    raise CorruptedBitstreamError(
      "decoded symbols fail the encoder's symbol CRC (if the file is intact, the "
      "hyper-synthesis on this machine produced other scale indices than the encoder's)"
    )
  return _dequantize(tables, k, means, header.shape)
