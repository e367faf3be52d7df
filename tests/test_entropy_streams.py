"""The named-stream container (`entropy.streams`): round trip, independent extraction, foreign
dependencies refused, and a fuzz: damaged files raise a documented error or hold exactly the
packed streams; forged headers (CRC recomputed) raise or give a table consistent with the payloads
(catching those is the codecs' job: fingerprints and symbol CRCs)."""
import struct
import zlib

import numpy as np
import pytest

from lossyless_jax.entropy import container, streams

RNG = np.random.default_rng(0)
COMMON, PRIV1, PRIV2 = (RNG.bytes(n) for n in (40, 25, 31))


def _file(common=COMMON):
  return streams.pack([("common", common, ()), ("task1", PRIV1, ("common",)), ("task2", PRIV2, ("common",))])


def test_round_trip_and_dependencies():
  out = streams.unpack(_file())
  assert [(s.name, s.payload) for s in out] == [("common", COMMON), ("task1", PRIV1), ("task2", PRIV2)]
  assert out[0].depends == {} and out[1].depends == {"common": zlib.crc32(COMMON)}


def test_a_stream_is_extracted_alone_and_decodes_given_its_dependency():
  alone = streams.subset(_file(), ["task1"])  # the common stream travels separately
  (task1,) = streams.unpack(alone)
  assert task1.payload == PRIV1 and len(alone) < len(_file())
  common = streams.extract(_file(), "common")
  streams.check_dependencies(task1, {"common": common})
  streams.check_dependencies(streams.extract(_file(), "common"), {})  # the common stream needs nothing


def test_a_dependent_stream_with_another_files_common_stream_is_refused():
  other_common = streams.extract(_file(common=RNG.bytes(40)), "common")
  task1 = streams.extract(_file(), "task1")
  with pytest.raises(container.ForeignModelError, match="another 'common' stream"):
    streams.check_dependencies(task1, {"common": other_common})
  with pytest.raises(container.CorruptedBitstreamError, match="needs stream 'common'"):
    streams.check_dependencies(task1, {})


def test_pack_refuses_bad_tables():
  with pytest.raises(ValueError, match="not an earlier stream"):
    streams.pack([("task1", PRIV1, ("common",)), ("common", COMMON, ())])
  with pytest.raises(ValueError, match="appears twice"):
    streams.pack([("a", b"", ()), ("a", b"", ())])
  with pytest.raises(ValueError, match="ASCII"):
    streams.pack([("é", b"", ())])


def _reseal(data: bytes) -> bytes:
  """Recomputes the header CRC after a header mutation (a forged header)."""
  (h,) = struct.unpack_from("<I", data, 8)
  if not 16 <= h <= len(data):
    return data
  head = data[:h - 4]
  return head + struct.pack("<I", zlib.crc32(head)) + data[h:]


@pytest.mark.parametrize("seed", range(4))
def test_fuzz_every_mutation_is_an_error_or_exact(seed):
  rng = np.random.default_rng(seed)
  good = _file()
  expected = [(s.name, s.payload, s.depends) for s in streams.unpack(good)]
  outcomes = {}
  for i in range(600):
    data = bytearray(good)
    kind = i % 5
    if kind == 0:  # bit flip anywhere
      pos = rng.integers(len(data))
      data[pos] ^= 1 << rng.integers(8)
    elif kind == 1:  # truncation
      data = data[:rng.integers(len(data))]
    elif kind == 2:  # appended bytes
      data += rng.bytes(rng.integers(1, 9))
    elif kind == 3:  # forged header byte, CRC recomputed
      h = struct.unpack_from("<I", good, 8)[0]
      data[rng.integers(4, h - 4)] = rng.integers(256)
      data = bytearray(_reseal(bytes(data)))
    else:  # forged length fields (huge values), CRC recomputed
      h = struct.unpack_from("<I", good, 8)[0]
      pos = rng.integers(12, h - 12)
      data[pos:pos + 8] = struct.pack("<Q", int(rng.choice([2**63 - 1, 2**32, len(good), 0])))
      data = bytearray(_reseal(bytes(data)))
    try:
      got = streams.unpack(bytes(data))
    except container.BitstreamError as e:
      outcomes[type(e).__name__] = outcomes.get(type(e).__name__, 0) + 1
      continue
    if kind < 3:  # accidental damage: caught, or it did not change what the file holds
      assert [(g.name, g.payload, g.depends) for g in got] == expected, f"silent wrong decode ({kind=})"
      outcomes["exact"] = outcomes.get("exact", 0) + 1
    else:  # a forged, resealed header is another valid table: each payload matches its recorded CRC
      assert sum(len(g.payload) for g in got) == len(data) - struct.unpack_from("<I", bytes(data), 8)[0]
      outcomes["forged_consistent"] = outcomes.get("forged_consistent", 0) + 1
  assert sum(outcomes.values()) == 600 and len(outcomes) >= 3
