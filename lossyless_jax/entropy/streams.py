"""A file of N named streams and their dependencies (the Gray-Wyner codecs' common + private streams).

The learnable Gray-Wyner network (Gray-Wyner paper §3) sends one common stream, decodable on its
own, and a private stream per task that decodes given the common one. This container holds such
streams: each has a name, its own length and CRC-32, and the streams it depends on, recorded with
their CRC-32. One stream can be taken out of a file (`extract`, `subset`) and decoded with only
the streams it depends on; a stream paired with a dependency from another file fails
`check_dependencies` with `ForeignModelError`, never decodes silently.

Layout of version 1 (integers little-endian)::

    offset  size   field
    0       4      magic b"LJXS"
    4       2      format version (u16) = 1
    6       2      number of streams S (u16, 1..MAX_STREAMS)
    8       4      header length H, including its CRC (u32)
    12      ..     S entries: name length (u8, 1..MAX_NAME), name (ASCII), payload length (u64),
                   payload CRC-32 (u32), number of dependencies D (u8), D × [name length (u8),
                   name, CRC-32 of that stream's payload (u32)]
    H-4     4      CRC-32 of header bytes [0, H-4)
    H       ..     the payloads, in entry order, exactly filling the rest of the file

Every field is bounded before anything is allocated (the header against the input's length,
each payload length against what is left). Errors are the rate layer's `container.BitstreamError`
subclasses.
"""
from __future__ import annotations

import dataclasses
import struct
import zlib

from lossyless_jax.entropy import container

MAGIC = b"LJXS"
FORMAT_VERSION = 1
MAX_STREAMS = 64
MAX_NAME = 64
_FIXED = struct.Struct("<4sHHI")


@dataclasses.dataclass(frozen=True)
class Stream:
  """One stream of a file: ``depends`` maps each dependency's name to its payload's CRC-32."""

  name: str
  payload: bytes
  depends: dict

  @property
  def crc(self) -> int:
    return zlib.crc32(self.payload)


def _name_field(name: str) -> bytes:
  """Length byte + ASCII name."""
  raw = name.encode("ascii") if name.isascii() else b""
  if not 1 <= len(raw) <= MAX_NAME:
    raise ValueError(f"stream name {name!r}: expected 1..{MAX_NAME} ASCII characters")
  return struct.pack("<B", len(raw)) + raw


def pack(streams: list[tuple[str, bytes, tuple]]) -> bytes:
  """A file of ``(name, payload, dependency names)`` in order; a dependency must come earlier in
  the list (or be absent from it, for a stream whose dependency travels in another file: then
  give ``(name, crc)`` pairs)."""
  if not 1 <= len(streams) <= MAX_STREAMS:
    raise ValueError(f"a file holds 1..{MAX_STREAMS} streams, got {len(streams)}")
  crcs, entries = {}, []
  for name, payload, deps in streams:
    if name in crcs:
      raise ValueError(f"stream name {name!r} appears twice")
    resolved = []
    for dep in deps:
      dep_name, dep_crc = (dep, crcs.get(dep)) if isinstance(dep, str) else dep
      if dep_crc is None:
        raise ValueError(f"stream {name!r} depends on {dep_name!r}, which is not an earlier stream")
      resolved.append((dep_name, dep_crc))
    entry = _name_field(name) + struct.pack("<QIB", len(payload), zlib.crc32(payload), len(resolved))
    for dep_name, dep_crc in resolved:
      entry += _name_field(dep_name) + struct.pack("<I", dep_crc)
    entries.append(entry)
    crcs[name] = zlib.crc32(payload)
  body = b"".join(entries)
  header = _FIXED.pack(MAGIC, FORMAT_VERSION, len(streams), _FIXED.size + len(body) + 4) + body
  return header + struct.pack("<I", zlib.crc32(header)) + b"".join(p for _, p, _ in streams)


class _Reader:
  def __init__(self, data: bytes, end: int):
    self.data, self.pos, self.end = data, _FIXED.size, end

  def take(self, fmt: str):
    size = struct.calcsize(fmt)
    if self.pos + size > self.end:
      raise container.CorruptedBitstreamError("stream table runs past the header length")
    out = struct.unpack_from(fmt, self.data, self.pos)
    self.pos += size
    return out

  def name(self) -> str:
    (n,) = self.take("<B")
    if not 1 <= n <= MAX_NAME or self.pos + n > self.end:
      raise container.CorruptedBitstreamError(f"stream name of {n} bytes is out of range")
    raw = bytes(self.data[self.pos:self.pos + n])
    self.pos += n
    try:
      return raw.decode("ascii")
    except UnicodeDecodeError:
      raise container.CorruptedBitstreamError(f"stream name {raw!r} is not ASCII") from None


def unpack(data: bytes) -> list[Stream]:
  """Every stream of a file, each payload checked against its CRC-32."""
  data = bytes(data)
  if len(data) < 4 or data[:4] != MAGIC:
    raise container.NotABitstreamError(f"bad magic bytes {data[:4]!r} (expected {MAGIC!r}): not a stream file")
  if len(data) < _FIXED.size + 4:
    raise container.TruncatedBitstreamError(f"input is {len(data)} bytes, shorter than the fixed header")
  _, version, count, header_length = _FIXED.unpack_from(data)
  if version != FORMAT_VERSION:
    raise container.UnsupportedVersionError(f"stream file version {version}; this reader knows {FORMAT_VERSION}")
  if not 1 <= count <= MAX_STREAMS:
    raise container.CorruptedBitstreamError(f"{count} streams; expected 1..{MAX_STREAMS}")
  if header_length > len(data):
    raise container.TruncatedBitstreamError(f"input is {len(data)} bytes, the header announces {header_length}")
  if header_length < _FIXED.size + 4:
    raise container.CorruptedBitstreamError(f"header length {header_length} is too short")
  (crc,) = struct.unpack_from("<I", data, header_length - 4)
  if zlib.crc32(data[:header_length - 4]) != crc:
    raise container.CorruptedBitstreamError("header CRC32 mismatch: the stream table is damaged")
  reader, table = _Reader(data, header_length - 4), []
  for _ in range(count):
    name = reader.name()
    length, payload_crc, num_deps = reader.take("<QIB")
    deps = {}
    for _ in range(num_deps):
      dep = reader.name()
      deps[dep] = reader.take("<I")[0]
    table.append((name, length, payload_crc, deps))
  if reader.pos != header_length - 4:
    raise container.CorruptedBitstreamError("trailing bytes in the stream table")
  offset, out = header_length, []
  for name, length, payload_crc, deps in table:
    if length > len(data) - offset:
      raise container.TruncatedBitstreamError(f"stream {name!r} announces {length} bytes, {len(data) - offset} remain")
    payload = data[offset:offset + length]
    offset += length
    if zlib.crc32(payload) != payload_crc:
      raise container.CorruptedBitstreamError(f"stream {name!r}: payload CRC32 mismatch")
    out.append(Stream(name, payload, deps))
  if offset != len(data):
    raise container.CorruptedBitstreamError(f"{len(data) - offset} unexpected trailing bytes after the streams")
  if len({s.name for s in out}) != len(out):
    raise container.CorruptedBitstreamError("two streams share a name")
  return out


def extract(data: bytes, name: str) -> Stream:
  """The stream ``name`` of a file (a missing name is a `BitstreamError`)."""
  streams = {s.name: s for s in unpack(data)}
  if name not in streams:
    raise container.CorruptedBitstreamError(f"no stream {name!r}; the file holds {', '.join(streams)}")
  return streams[name]


def subset(data: bytes, names) -> bytes:
  """A file of the streams ``names`` only; a dependency left out keeps its recorded CRC-32, so
  the stream still refuses a foreign dependency (`check_dependencies`)."""
  streams = {s.name: s for s in unpack(data)}
  missing = [n for n in names if n not in streams]
  if missing:
    raise container.CorruptedBitstreamError(f"no stream {missing[0]!r}; the file holds {', '.join(streams)}")
  kept = [s for s in streams.values() if s.name in names]
  return pack([(s.name, s.payload, tuple(s.depends.items())) for s in kept])


def check_dependencies(stream: Stream, available: dict) -> None:
  """Raises unless every dependency of ``stream`` is in ``available`` (name -> payload bytes, or
  a `Stream`) with the CRC-32 recorded when ``stream`` was written: a stream paired with another
  file's common stream raises `container.ForeignModelError`."""
  for dep, crc in stream.depends.items():
    if dep not in available:
      raise container.CorruptedBitstreamError(f"stream {stream.name!r} needs stream {dep!r}, which is not given")
    got = available[dep]
    got_crc = got.crc if isinstance(got, Stream) else zlib.crc32(got)
    if got_crc != crc:
      raise container.ForeignModelError(
          f"stream {stream.name!r} was written against another {dep!r} stream (CRC32 {crc:08x}, given {got_crc:08x})")
