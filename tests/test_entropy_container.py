"""File format: header round trip, each documented error, and a fuzz test (acceptance 6)."""

import struct
import time
import zlib

import numpy as np
import pytest

from lossyless_jax.entropy import coding, container
from lossyless_jax.entropy.container import (
  BitstreamError,
  CorruptedBitstreamError,
  ForeignModelError,
  NotABitstreamError,
  TruncatedBitstreamError,
  UnsupportedVersionError,
)
from lossyless_jax.entropy.factorized import EntropyBottleneck
from lossyless_jax.entropy.hyperprior import VectorHyperprior
from lossyless_jax.entropy.testing import numpy_params

DIM = 8


def _state(model, seed):
  return coding.make_model_state(numpy_params(model, DIM, seed=seed, perturb=0.2))


@pytest.fixture(scope="module")
def states():
  return {
    "factorized": _state(EntropyBottleneck(DIM), 0),
    "other": _state(EntropyBottleneck(DIM), 1),
    "hyperprior": _state(VectorHyperprior(DIM, hidden=32), 2),
  }


def _z(n=3, seed=0):
  z = np.random.default_rng(seed).normal(0, 30, (n, DIM)).astype(np.float32)
  z[0, 0] = 5e5  # one escaped symbol
  return z


def test_pack_and_read_header():
  data = container.pack(2, bytes(range(16)), (3, 4, 5), [b"abcd", b"", b"12345678"], 0xDEADBEEF)
  h = container.read_header(data)
  assert (h.version, h.kind, h.fingerprint, h.symbols_crc) == (container.FORMAT_VERSION, 2, bytes(range(16)), 0xDEADBEEF)
  assert h.shape == (3, 4, 5) and h.payload_lengths == (4, 0, 8)
  hdr, payloads = container.unpack(data)
  assert payloads == [b"abcd", b"", b"12345678"] and h.total_length == len(data)


def test_errors_are_value_errors_with_reasons():
  for cls, reason in [
    (NotABitstreamError, "bad_magic"),
    (UnsupportedVersionError, "unsupported_version"),
    (TruncatedBitstreamError, "truncated"),
    (CorruptedBitstreamError, "corrupted"),
    (ForeignModelError, "foreign_model"),
  ]:
    assert issubclass(cls, BitstreamError) and issubclass(cls, ValueError)
    assert cls.reason == reason and reason in str(cls("x"))


def test_each_documented_error(states):
  st = states["factorized"]
  z = _z()
  data = coding.compress(st, z)
  np.testing.assert_array_equal(coding.decompress(st, data), coding.quantize(st, z))
  with pytest.raises(TruncatedBitstreamError):
    coding.decompress(st, data[:-1])
  with pytest.raises(TruncatedBitstreamError):
    coding.decompress(st, data[:20])
  with pytest.raises(NotABitstreamError):
    coding.decompress(st, b"PK\x03\x04" + data[4:])
  with pytest.raises(NotABitstreamError):
    coding.decompress(st, b"")
  future = data[:4] + struct.pack("<H", container.FORMAT_VERSION + 1) + data[6:]
  with pytest.raises(UnsupportedVersionError, match="newer"):
    coding.decompress(st, future)
  with pytest.raises(ForeignModelError):
    coding.decompress(states["other"], data)
  with pytest.raises(ForeignModelError):
    coding.decompress(states["hyperprior"], data)
  flipped = bytearray(data)
  flipped[-6] ^= 0x10  # inside the payload
  with pytest.raises(CorruptedBitstreamError, match="payload CRC"):
    coding.decompress(st, bytes(flipped))
  flipped = bytearray(data)
  flipped[13] ^= 0x01  # inside the header (fingerprint)
  with pytest.raises(CorruptedBitstreamError, match="header CRC"):
    coding.decompress(st, bytes(flipped))
  with pytest.raises(CorruptedBitstreamError, match="trailing"):
    coding.decompress(st, data + b"\0")
  with pytest.raises(TypeError):
    coding.decompress(st, "not bytes")


def _refresh_header_crc(buf: bytearray) -> bytes:
  h = struct.unpack_from("<H", buf, 6)[0]
  struct.pack_into("<I", buf, h - 4, zlib.crc32(bytes(buf[: h - 4])))
  return bytes(buf)


def _refresh_payload_crc(buf: bytearray) -> bytes:
  h = struct.unpack_from("<H", buf, 6)[0]
  struct.pack_into("<I", buf, len(buf) - 4, zlib.crc32(bytes(buf[h:-4])))
  return bytes(buf)


def test_wrong_decode_is_never_silent(states):
  """A file whose CRCs are valid but whose symbols differ fails the symbol CRC."""
  st = states["factorized"]
  data = bytearray(coding.compress(st, _z()))
  data[28] ^= 0xFF  # the symbol CRC field, then re-seal the header
  with pytest.raises(CorruptedBitstreamError, match="symbol CRC"):
    coding.decompress(st, _refresh_header_crc(data))


def test_absurd_shape_is_refused(states):
  st = states["factorized"]
  data = bytearray(coding.compress(st, _z()))
  struct.pack_into("<Q", data, container._FIXED.size, 10**9)  # batch dimension
  with pytest.raises(CorruptedBitstreamError, match="max_elements"):
    coding.decompress(st, _refresh_header_crc(data))


def _mutations(data: bytes, rng: np.random.Generator, count: int):
  n = len(data)
  header_len = struct.unpack_from("<H", data, 6)[0]
  for i in range(count):
    buf = bytearray(data)
    kind = i % 9
    if kind == 0:  # truncation
      yield bytes(buf[: rng.integers(0, n)])
    elif kind == 1:  # 1-3 random bit flips
      for _ in range(rng.integers(1, 4)):
        pos = rng.integers(0, n)
        buf[pos] ^= 1 << rng.integers(0, 8)
      yield bytes(buf)
    elif kind == 2:  # random byte overwrite
      buf[rng.integers(0, n)] = rng.integers(0, 256)
      yield bytes(buf)
    elif kind == 3:  # insertion / deletion
      pos = rng.integers(0, n)
      if rng.random() < 0.5:
        yield bytes(buf[:pos] + bytes([rng.integers(0, 256)]) + buf[pos:])
      else:
        yield bytes(buf[:pos] + buf[pos + 1 :])
    elif kind == 4:  # appended garbage
      yield bytes(buf) + rng.integers(0, 256, rng.integers(1, 9), dtype=np.uint8).tobytes()
    elif kind == 5:  # pure garbage, sometimes with the right magic
      junk = rng.integers(0, 256, rng.integers(0, 2 * n), dtype=np.uint8).tobytes()
      yield (container.MAGIC + junk) if rng.random() < 0.5 else junk
    elif kind == 6:  # payload damage with the payload CRC re-sealed: reaches the decoder
      for _ in range(rng.integers(1, 4)):
        pos = rng.integers(header_len, n - 4)
        buf[pos] ^= 1 << rng.integers(0, 8)
      yield _refresh_payload_crc(buf)
    elif kind == 7:  # header field damage with the header CRC re-sealed
      pos = rng.integers(8, header_len - 4)
      buf[pos] ^= 1 << rng.integers(0, 8)
      yield _refresh_header_crc(buf)
    else:  # version field
      struct.pack_into("<H", buf, 4, int(rng.integers(0, 65536)))
      yield bytes(buf)


@pytest.mark.parametrize("which", ["factorized", "hyperprior"])
def test_fuzz_mutated_files(states, which):
  """Acceptance 6: >= 2,000 damaged files (per model) each raise a BitstreamError or decode
  to exactly the original latents; nothing else, no hang."""
  st = states[which]
  z = _z(n=3, seed=1)
  expect = coding.quantize(st, z)
  data = coding.compress(st, z)
  rng = np.random.default_rng(0 if which == "factorized" else 1)
  outcomes = {}
  worst = 0.0
  count = 2_000
  for mutated in _mutations(data, rng, count):
    t = time.perf_counter()
    try:
      out = coding.decompress(st, mutated)
    except BitstreamError as e:
      outcomes[type(e).__name__] = outcomes.get(type(e).__name__, 0) + 1
    else:
      np.testing.assert_array_equal(out, expect)
      outcomes["decoded_exactly"] = outcomes.get("decoded_exactly", 0) + 1
    worst = max(worst, time.perf_counter() - t)
  assert sum(outcomes.values()) == count
  assert worst < 5.0
  print(which, len(data), "bytes;", outcomes, f"slowest {worst * 1e3:.1f} ms")
  assert outcomes.get("CorruptedBitstreamError", 0) > 100
  assert outcomes.get("TruncatedBitstreamError", 0) > 100


@pytest.mark.parametrize("which", ["factorized", "hyperprior"])
def test_shape_rewritten_to_same_size_is_refused(states, which):
  """Item 7: a header whose latent shape is rewritten to another shape of the same size (header CRC
  re-sealed) fails the symbol CRC, which covers the shape, instead of decoding in the wrong shape."""
  st = states[which]
  z = np.random.default_rng(3).normal(0, 3, (2, 3, DIM)).astype(np.float32)
  data = coding.compress(st, z)
  np.testing.assert_array_equal(coding.decompress(st, data), coding.quantize(st, z))
  buf = bytearray(data)
  struct.pack_into("<2Q", buf, container._FIXED.size, 3, 2)  # (2, 3, 8) -> (3, 2, 8): same ndim, same size
  with pytest.raises(CorruptedBitstreamError, match="symbol CRC"):
    coding.decompress(st, _refresh_header_crc(buf))
  header, payloads = container.unpack(data)
  for shape in [(6, DIM), (1, 6, DIM), (6, 1, DIM)]:  # other ndim: a whole new header
    forged = container.pack(header.kind, header.fingerprint, shape, payloads, header.symbols_crc)
    with pytest.raises(CorruptedBitstreamError, match="symbol CRC"):
      coding.decompress(st, forged)


@pytest.mark.parametrize("version", [1, 2])
def test_old_format_files_are_unsupported(states, version):
  """Files of formats 1 and 2 (float h_s, no coder version) raise UnsupportedVersionError, saying
  how to re-export the model."""
  st = states["factorized"]
  buf = bytearray(coding.compress(st, _z()))
  struct.pack_into("<H", buf, 4, version)
  with pytest.raises(UnsupportedVersionError, match=f"version {version}.*re-export the model.*codec.py export"):
    coding.decompress(st, _refresh_header_crc(buf))


def test_coder_version_is_recorded_and_checked(states):
  """The header records the constriction release that coded the file; another minor release is
  refused (its tables may differ), the same minor with another patch release is read."""
  st = states["factorized"]
  data = coding.compress(st, _z())
  assert container.read_header(data).coder == container.coder_version()
  major, minor, patch = container.coder_version()
  offset = container._FIXED.size - 3
  buf = bytearray(data)
  buf[offset : offset + 3] = bytes([major, (minor + 1) % 256, patch])
  with pytest.raises(UnsupportedVersionError, match=f"constriction {major}.{(minor + 1) % 256}.{patch}"):
    coding.decompress(st, _refresh_header_crc(buf))
  buf[offset : offset + 3] = bytes([major, minor, (patch + 1) % 256])
  np.testing.assert_array_equal(coding.decompress(st, _refresh_header_crc(buf)), coding.decompress(st, data))
