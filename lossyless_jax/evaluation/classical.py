"""Classical image codecs (PNG, JPEG, WebP via Pillow) as rate baselines.

The paper compares against PNG/JPEG/WebP swept "over an equivalent quality range" and predicts
from their reconstructions (Table 1, Table 8, App. E.5); rates are file sizes. Here every image is
encoded on its own, in memory, and the rate is the **actual encoded size in bytes × 8**, container
headers included (they dominate for tiny images such as 8×8 digits: a PNG header alone is about
60 bytes). ``payload_bytes`` gives the size without the container: the PNG ``IDAT`` data, the
JPEG entropy-coded scan (tables and markers excluded), the WebP ``VP8 ``/``VP8L`` chunk data. Decoded images are returned so the lead can train a CNN on them and build rows
``{codec, quality, bits_per_image, accuracy}``.

Quality knobs (``DEFAULT_QUALITIES``):
- ``"png"``: lossless; the knob is zlib ``compress_level`` 0–9 (size decreases with level).
- ``"jpeg"``: Pillow ``quality`` 1–95 (Pillow advises against > 95); size increases with quality.
- ``"webp"``: lossy ``quality`` 0–100 (size increases with quality); ``"webp_lossless"`` is the
  lossless mode, the knob being the effort (``quality`` 0–100, size decreases with effort).

Inputs: ``(N, H, W, C)`` with C ∈ {1, 3}, or ``(N, H, W)``, as uint8 or float in [0, 1] (rounded to
uint8 with ``round(255 x)``). Outputs keep the input's kind: float32 in [0, 1] for float input,
uint8 otherwise.
"""
from __future__ import annotations

import io
from typing import Any, Iterable

import numpy as np
from PIL import Image

__all__ = ["CODECS", "DEFAULT_QUALITIES", "to_uint8", "encode_decode", "payload_bytes", "codec_round_trip",
           "sweep_codec"]

CODECS = ("png", "jpeg", "webp", "webp_lossless")

DEFAULT_QUALITIES: dict[str, tuple[int, ...]] = {
    "png": (0, 1, 3, 6, 9),
    "jpeg": (1, 5, 10, 20, 30, 50, 70, 80, 90, 95),
    "webp": (0, 5, 10, 20, 30, 50, 70, 80, 90, 100),
    "webp_lossless": (0, 50, 100),
}


def to_uint8(images: Any) -> np.ndarray:
  """uint8 ``(N, H, W, C)``; float inputs must lie in [0, 1]."""
  x = np.asarray(images)
  if x.ndim == 3:
    x = x[..., None]
  if x.ndim != 4 or x.shape[-1] not in (1, 3):
    raise ValueError(f"images must be (N, H, W), (N, H, W, 1) or (N, H, W, 3); got shape {x.shape}")
  if x.dtype == np.uint8:
    return x
  if np.issubdtype(x.dtype, np.floating):
    lo, hi = float(np.min(x)), float(np.max(x))
    if lo < -1e-6 or hi > 1 + 1e-6:
      raise ValueError(f"float images must be in [0, 1], got range [{lo:.4g}, {hi:.4g}]")
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
  raise ValueError(f"images must be uint8 or float in [0, 1], got dtype {x.dtype}")


def _pil(img: np.ndarray) -> Image.Image:
  return Image.fromarray(img[..., 0], mode="L") if img.shape[-1] == 1 else Image.fromarray(img, mode="RGB")


def payload_bytes(data: bytes, codec: str) -> int:
  """Bytes of ``data`` (one encoded file) that are the codec's coded image, not its container:
  PNG: the ``IDAT`` chunks' data; JPEG: the entropy-coded data after the (single) start-of-scan
  header, up to the end-of-image marker; WebP: the ``VP8 ``/``VP8L`` chunk's data."""
  import struct
  if codec == "png":
    if data[:8] != b"\x89PNG\r\n\x1a\n":
      raise ValueError("not a PNG file")
    pos, total = 8, 0
    while pos + 8 <= len(data):
      length, kind = struct.unpack(">I4s", data[pos:pos + 8])
      if kind == b"IDAT":
        total += length
      pos += 12 + length
    return total
  if codec == "jpeg":
    if data[:2] != b"\xff\xd8":
      raise ValueError("not a JPEG file")
    pos = 2
    while pos + 4 <= len(data):
      marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2:pos + 4])[0]
      if marker == 0xDA:  # start of scan: the entropy-coded data follows its header
        end = len(data) - 2 if data[-2:] == b"\xff\xd9" else len(data)
        return end - (pos + 2 + length)
      pos += 2 + length
    raise ValueError("JPEG file without a start-of-scan segment")
  if codec in ("webp", "webp_lossless"):
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
      raise ValueError("not a WebP file")
    pos = 12
    while pos + 8 <= len(data):
      kind, length = struct.unpack("<4sI", data[pos:pos + 8])
      if kind in (b"VP8 ", b"VP8L"):
        return length
      pos += 8 + length + (length & 1)
    raise ValueError("WebP file without a VP8/VP8L chunk")
  raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")


def encode_decode(image_u8: np.ndarray, codec: str, quality: int, **save_kwargs) -> tuple[int, np.ndarray]:
  """Encode one uint8 ``(H, W, C)`` image; return ``(num_bytes, decoded uint8 (H, W, C))``."""
  data, dec = _encode_decode(image_u8, codec, quality, **save_kwargs)
  return len(data), dec


def _encode_decode(image_u8: np.ndarray, codec: str, quality: int, **save_kwargs) -> tuple[bytes, np.ndarray]:
  if codec not in CODECS:
    raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
  q = int(quality)
  kwargs: dict[str, Any]
  if codec == "png":
    if not 0 <= q <= 9:
      raise ValueError(f"png quality is zlib compress_level in [0, 9], got {q}")
    fmt, kwargs = "PNG", {"compress_level": q, "optimize": False}
  elif codec == "jpeg":
    if not 1 <= q <= 100:
      raise ValueError(f"jpeg quality must be in [1, 100], got {q}")
    fmt, kwargs = "JPEG", {"quality": q}
  elif codec == "webp":
    if not 0 <= q <= 100:
      raise ValueError(f"webp quality must be in [0, 100], got {q}")
    fmt, kwargs = "WEBP", {"quality": q, "lossless": False}
  else:
    if not 0 <= q <= 100:
      raise ValueError(f"webp_lossless quality (effort) must be in [0, 100], got {q}")
    fmt, kwargs = "WEBP", {"quality": q, "lossless": True}
  kwargs.update(save_kwargs)
  buf = io.BytesIO()
  _pil(image_u8).save(buf, format=fmt, **kwargs)
  data = buf.getvalue()
  with Image.open(io.BytesIO(data)) as im:
    im = im.convert("L" if image_u8.shape[-1] == 1 else "RGB")
    dec = np.asarray(im, dtype=np.uint8)
  if dec.ndim == 2:
    dec = dec[..., None]
  return data, dec


def codec_round_trip(images: Any, codec: str, quality: int, **save_kwargs) -> dict:
  """Round-trip a batch through one codec at one quality.

  Returns ``{"codec", "quality", "bits" (N,) int, "bits_per_image" float (files, containers
  included), "payload_bits_per_image" float (``payload_bytes``), "bpp" float, "decoded" (same kind
  and shape as the input), "mse" float (on [0,1] scale)}``.
  """
  raw = np.asarray(images)
  squeeze = raw.ndim == 3
  is_float = np.issubdtype(raw.dtype, np.floating)
  x = to_uint8(raw)
  n, h, w, _ = x.shape
  bits = np.empty(n, np.int64)
  payload = np.empty(n, np.int64)
  dec = np.empty_like(x)
  for i in range(n):
    data, dec[i] = _encode_decode(x[i], codec, quality, **save_kwargs)
    bits[i], payload[i] = 8 * len(data), 8 * payload_bytes(data, codec)
  mse = float(np.mean((dec.astype(np.float64) - x.astype(np.float64)) ** 2) / 255.0**2)
  out = dec.astype(np.float32) / 255.0 if is_float else dec
  if squeeze:
    out = out[..., 0]
  return {
      "codec": codec,
      "quality": int(quality),
      "bits": bits,
      "bits_per_image": float(bits.mean()),
      "payload_bits_per_image": float(payload.mean()),
      "bpp": float(bits.mean() / (h * w)),
      "decoded": out,
      "mse": mse,
  }


def sweep_codec(images: Any, codec: str, qualities: Iterable[int] | None = None, **save_kwargs) -> list[dict]:
  """``codec_round_trip`` over ``qualities`` (default ``DEFAULT_QUALITIES[codec]``)."""
  qs = DEFAULT_QUALITIES[codec] if qualities is None else tuple(qualities)
  return [codec_round_trip(images, codec, q, **save_kwargs) for q in qs]
