"""File format of compressed latents, and its errors.

Layout of format version 3 (all integers little-endian)::

    offset  size  field
    0       4     magic  b"LJXB"
    4       2     format version (u16) = 3
    6       2     header length H in bytes, including the header CRC (u16)
    8       1     model kind (u8): 1 factorized, 2 hyperprior, 3 context (``tables.KIND_*``)
    9       1     flags (u8, reserved, 0)
    10      1     ndim of the latent array (u8, 1..8)
    11      1     number of payloads P (u8, 1..8): the codec's streams, in its order
    12      16    fingerprint of the coding state (``tables.fingerprint``)
    28      4     symbol CRC: CRC32 of the latent shape (``symbols_crc_seed``: ndim as u8, then
                  each dimension as u64), continued over the coded symbols (int32
                  little-endian, in coding order; :func:`symbols_crc`)
    32      4     coder: id (u8, 1 = constriction's range coder), its version major, minor,
                  patch (u8 each)
    36      8·ndim  latent shape (u64 each)
    ..      8·P   payload lengths in bytes (u64 each)
    H-4     4     CRC32 of header bytes [0, H-4)
    H       ..    payloads, concatenated
    end-4   4     CRC32 of the payload bytes

Reading checks, in order: magic, version, header length, header CRC, header fields,
fingerprint (and kind) against the decoder's tables, total length, payload CRC; after
decoding, the symbol CRC. Every failure raises a subclass of :class:`BitstreamError`
(itself a ``ValueError``) with a ``reason`` attribute:

=============================  ========================  ==========================================
exception                      ``reason``                when
=============================  ========================  ==========================================
``NotABitstreamError``         ``"bad_magic"``           input does not start with the magic bytes
``UnsupportedVersionError``    ``"unsupported_version"`` any version but 3 (1 and 2 came before the
                                                         integer networks: re-export the model and
                                                         re-encode), or a coder release other than
                                                         the installed one's major.minor
``TruncatedBitstreamError``    ``"truncated"``           input ends before the header/payloads do
``CorruptedBitstreamError``    ``"corrupted"``           a CRC fails, a header field is invalid,
                                                         trailing bytes, or the decoded symbols do
                                                         not match the encoder's symbol CRC
``ForeignModelError``          ``"foreign_model"``       written with other coding tables (another
                                                         model, or tables rebuilt since)
=============================  ========================  ==========================================

A wrong decode is never silent: anything that passes both CRCs and the fingerprint but
decodes to other symbols than were encoded, or announces another shape (even one of the same
size), fails the symbol CRC.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import struct
import zlib

import numpy as np

from lossyless_jax import errors

__all__ = [
  "MAGIC",
  "FORMAT_VERSION",
  "BitstreamError",
  "NotABitstreamError",
  "UnsupportedVersionError",
  "TruncatedBitstreamError",
  "CorruptedBitstreamError",
  "ForeignModelError",
  "Header",
  "pack",
  "read_header",
  "symbols_crc",
  "symbols_crc_seed",
  "coder_version",
  "unpack",
]

MAGIC = b"LJXB"
FORMAT_VERSION = 3
MAX_NDIM = 8
MAX_PAYLOADS = 8
CODER_ID = 1  # constriction's range coder (queue), with the tables of ``range_coder``
_FIXED = struct.Struct("<4sHHBBBB16sIBBBB")  # 36 bytes
_MAX_HEADER = _FIXED.size + 8 * (MAX_NDIM + MAX_PAYLOADS) + 4


class BitstreamError(errors.InputError):
  """A compressed file cannot be decoded; ``reason`` says why (see module docstring)."""

  reason = "invalid"

  def __init__(self, message: str):
    super().__init__(f"{message} [reason: {self.reason}]")


class NotABitstreamError(BitstreamError):
  reason = "bad_magic"


class UnsupportedVersionError(BitstreamError):
  reason = "unsupported_version"


class TruncatedBitstreamError(BitstreamError):
  reason = "truncated"


class CorruptedBitstreamError(BitstreamError):
  reason = "corrupted"


class ForeignModelError(BitstreamError):
  reason = "foreign_model"


@dataclasses.dataclass(frozen=True)
class Header:
  """Parsed header of a compressed file."""

  version: int
  kind: int
  fingerprint: bytes
  symbols_crc: int
  shape: tuple[int, ...]
  payload_lengths: tuple[int, ...]
  header_length: int
  coder: tuple[int, int, int] = (0, 0, 0)

  @property
  def total_length(self) -> int:
    return self.header_length + sum(self.payload_lengths) + 4


def symbols_crc_seed(shape: tuple[int, ...]) -> int:
  """CRC32 of the latent shape (ndim as u8, then u64 dimensions): the symbol CRC starts from it, so
  a header rewritten to another shape fails the symbol CRC."""
  return zlib.crc32(struct.pack(f"<B{len(shape)}Q", len(shape), *shape))


def symbols_crc(shape: tuple[int, ...], *arrays: np.ndarray) -> int:
  """The symbol CRC: :func:`symbols_crc_seed` of ``shape``, continued over ``arrays`` as int32."""
  crc = symbols_crc_seed(shape)
  for a in arrays:
    crc = zlib.crc32(np.ascontiguousarray(a).astype("<i4").tobytes(), crc)
  return crc


def coder_version() -> tuple[int, int, int]:
  """The installed ``constriction`` release as ``(major, minor, patch)``."""
  parts = (importlib.metadata.version("constriction").split(".") + ["0", "0"])[:3]
  return tuple(int("".join(ch for ch in p if ch.isdigit()) or 0) for p in parts)


def pack(kind: int, fingerprint: bytes, shape: tuple[int, ...], payloads: list[bytes], symbols_crc: int) -> bytes:
  """Assemble a version-3 file (``symbols_crc`` seeded with :func:`symbols_crc_seed` of ``shape``)."""
  if len(fingerprint) != 16:
    raise ValueError(f"fingerprint must be 16 bytes, got {len(fingerprint)}")
  if not 1 <= len(shape) <= MAX_NDIM:
    raise ValueError(f"latent ndim must be in 1..{MAX_NDIM}, got shape {shape}")
  if not 1 <= len(payloads) <= MAX_PAYLOADS:
    raise ValueError(f"need 1..{MAX_PAYLOADS} payloads, got {len(payloads)}")
  header_length = _FIXED.size + 8 * (len(shape) + len(payloads)) + 4
  head = _FIXED.pack(
    MAGIC,
    FORMAT_VERSION,
    header_length,
    kind,
    0,
    len(shape),
    len(payloads),
    bytes(fingerprint),
    symbols_crc & 0xFFFFFFFF,
    CODER_ID,
    *coder_version(),
  )
  head += struct.pack(f"<{len(shape)}Q", *shape)
  head += struct.pack(f"<{len(payloads)}Q", *(len(p) for p in payloads))
  head += struct.pack("<I", zlib.crc32(head))
  body = b"".join(payloads)
  return head + body + struct.pack("<I", zlib.crc32(body))


def read_header(data: bytes) -> Header:
  """Parse and validate the header (magic, version, header CRC, fields); no payload checks."""
  if not isinstance(data, (bytes, bytearray, memoryview)):
    raise TypeError(f"compressed data must be bytes, got {type(data).__name__}")
  data = bytes(data)
  n = len(data)
  if n < len(MAGIC):
    if MAGIC.startswith(data) and n > 0:
      raise TruncatedBitstreamError(f"input is {n} bytes: too short to hold a header")
    raise NotABitstreamError(f"input of {n} bytes is not a lossyless_jax bitstream")
  if data[:4] != MAGIC:
    raise NotABitstreamError(f"bad magic bytes {data[:4]!r} (expected {MAGIC!r}): not a lossyless_jax bitstream")
  if n < 8:
    raise TruncatedBitstreamError(f"input is {n} bytes: too short to hold a header")
  version, header_length = struct.unpack_from("<HH", data, 4)
  if version != FORMAT_VERSION:
    if version in (1, 2):
      origin = (
        f"an older lossyless_jax (format {version}, before exact integer decoding): re-export the model "
        "with this version (`python launch/codec.py export --workdir W`) and re-encode the data"
      )
    else:
      origin = f"{'a newer' if version > FORMAT_VERSION else 'an invalid'} lossyless_jax"
    raise UnsupportedVersionError(
      f"bitstream format version {version} is not supported by this reader (reads "
      f"version {FORMAT_VERSION}); it was written by {origin}"
    )
  if not _FIXED.size + 8 * 2 + 4 <= header_length <= _MAX_HEADER:
    raise CorruptedBitstreamError(f"header length field {header_length} is invalid")
  if n < header_length:
    raise TruncatedBitstreamError(f"input is {n} bytes but the header alone is {header_length} bytes")
  (stored_crc,) = struct.unpack_from("<I", data, header_length - 4)
  if zlib.crc32(data[: header_length - 4]) != stored_crc:
    raise CorruptedBitstreamError("header CRC32 mismatch: the header is damaged")
  (_, _, _, kind, flags, ndim, num_payloads, fp, symbols_crc, coder_id, *coder) = _FIXED.unpack_from(data, 0)
  if flags != 0:
    raise CorruptedBitstreamError(f"reserved flags are {flags}, expected 0")
  if coder_id != CODER_ID:
    raise CorruptedBitstreamError(f"coder id {coder_id} is unknown (expected {CODER_ID})")
  installed = coder_version()
  if tuple(coder[:2]) != installed[:2]:
    raise UnsupportedVersionError(
      "file was range-coded with constriction {}.{}.{}; this installation has {}.{}.{}, whose tables may "
      "differ: install constriction=={}.{}.* to decode it".format(*coder, *installed, *coder[:2])
    )
  if (
    not (1 <= ndim <= MAX_NDIM and 1 <= num_payloads <= MAX_PAYLOADS)
    or header_length != _FIXED.size + 8 * (ndim + num_payloads) + 4
  ):
    raise CorruptedBitstreamError(
      f"inconsistent header: ndim={ndim}, payloads={num_payloads}, header length={header_length}"
    )
  shape = struct.unpack_from(f"<{ndim}Q", data, _FIXED.size)
  lengths = struct.unpack_from(f"<{num_payloads}Q", data, _FIXED.size + 8 * ndim)
  return Header(version, kind, bytes(fp), symbols_crc, tuple(shape), tuple(lengths), header_length, tuple(coder))


def unpack(
  data: bytes, expected_fingerprint: bytes | None = None, expected_kind: int | None = None
) -> tuple[Header, list[bytes]]:
  """Validate a whole file and split it into ``(header, payloads)``."""
  header = read_header(data)
  data = bytes(data)
  if expected_fingerprint is not None and header.fingerprint != bytes(expected_fingerprint):
    raise ForeignModelError(
      f"bitstream was written with coding tables {header.fingerprint.hex()}, but the "
      f"decoder has tables {bytes(expected_fingerprint).hex()} (another model, or tables "
      "rebuilt since encoding)"
    )
  if expected_kind is not None and header.kind != expected_kind:
    raise ForeignModelError(f"bitstream is for model kind {header.kind}, the decoder's tables are kind {expected_kind}")
  total = header.total_length
  if len(data) < total:
    raise TruncatedBitstreamError(f"input is {len(data)} bytes, the header announces {total}")
  if len(data) > total:
    raise CorruptedBitstreamError(f"{len(data) - total} unexpected trailing bytes after the payload CRC")
  body = data[header.header_length : total - 4]
  (stored,) = struct.unpack_from("<I", data, total - 4)
  if zlib.crc32(body) != stored:
    raise CorruptedBitstreamError("payload CRC32 mismatch: the payload is damaged")
  payloads, offset = [], 0
  for length in header.payload_lengths:
    payloads.append(body[offset : offset + length])
    offset += length
  return header, payloads
