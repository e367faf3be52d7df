"""Fuzzes one-shot (RCC) bitstreams of ``lossyless_jax.entropy.one_shot`` (Lei et al. §V, Algs. 2–3).

COMMAND: JAX_PLATFORMS=cpu python benchmarks/fuzz_rcc.py [--files 2400] [--smoke] [--mem_gib 2] [--timeout_s 30]

Every file must either raise a documented ``container.BitstreamError`` subclass or decode exactly
(samples and indices) to its encoder's output. The parent encodes reference files with the exact
Gaussian Q*_Y (PFR and ORC), derives ``--files`` files from them, deterministically, in 12 kinds:

* ``truncate``, ``bit_flip`` (1–3 bits), ``byte_overwrite``, ``insert_delete``, ``append``,
  ``garbage`` (random bytes, half of them behind the magic),
* ``payload_resealed``: payload bits flipped, payload CRC recomputed (reaches the range decoder),
* ``header_resealed``: a header bit flipped, header CRC recomputed,
* ``forged_field``: one header field set to a random or boundary value (0, 1, 2^24, 2^31,
  2^32 − 1, NaN, ±inf, random bytes, ...), header CRC recomputed; half of them also with the file
  resized to the announced payload length and the payload CRC recomputed,
* ``magic``: other format magics (``RCC0``–``RCC9``, random),
* ``foreign``: whole files of other models — another Q_Y variance, another dimension, another
  seed, another sampling environment (refused), and files of the same Q_Y and seed with another
  N, chunk size, sources per codebook, rate parameter, method or a JAX key as seed (which decode
  exactly to their own encoder's samples), an LJXB file and a format-2 (``RCC2``) file.

Files are decoded in a worker subprocess whose address space is capped (``RLIMIT_AS``) at its size
after warm-up plus ``--mem_gib``; the parent kills a worker that spends more than ``--timeout_s``
on one file (``hang``) and restarts one that dies (``crash``). Prints one JSON line: counts by
outcome and by kind, the slowest file, the worker's peak RSS, wall time. Exit status 1 if any file
had another outcome (``wrong_decode``, ``error:<type>``, ``hang``, ``crash``). ``--smoke``: 240
files, for the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import select
import struct
import subprocess
import sys
import tempfile
import time
import zlib

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

ALLOWED = ("NotABitstreamError", "UnsupportedVersionError", "TruncatedBitstreamError", "CorruptedBitstreamError",
           "ForeignModelError", "decoded_exactly")
KINDS = ("truncate", "bit_flip", "byte_overwrite", "insert_delete", "append", "garbage", "payload_resealed",
         "header_resealed", "forged_field", "magic", "foreign", "forged_field_resized")
REF_VAR, REF_SEED = (0.75,), 0
# (name, Q_Y variances, seed, rcc_compress keyword overrides); "env" patches sampling_environment.
FOREIGN = [
    ("var_0.5", (0.5,), 0, {}), ("var_2d", (0.75, 0.75), 0, {}), ("seed_1", REF_VAR, 1, {}),
    ("seed_99", REF_VAR, 99, {}), ("env", REF_VAR, 0, {}),
    ("N_1024", REF_VAR, 0, {"num_candidates": 1024}), ("N_2", REF_VAR, 0, {"num_candidates": 2, "chunk_size": 2}),
    ("chunk_100", REF_VAR, 0, {"chunk_size": 100}), ("per_cb_3", REF_VAR, 0, {"sources_per_codebook": 3}),
    ("per_cb_1000", REF_VAR, 0, {"sources_per_codebook": 1000}), ("C_5", REF_VAR, 0, {"rate_param_bits": 5.0}),
    ("orc", REF_VAR, 0, {"method": "orc"}), ("key_seed", REF_VAR, "key0", {}),
]


# ----------------------------------------------------------------------------- parent: files
def _encode(one_shot, var, seed, n=60, **kw):
  import jax  # noqa: PLC0415
  args = dict(num_candidates=4096, chunk_size=1024, sources_per_codebook=10, rate_param_bits=1.0, method="pfr")
  args.update(kw)
  x = np.random.default_rng(len(var) * 7 + n).normal(size=(n, len(var))).astype(np.float32)
  seed = jax.random.key(0) if seed == "key0" else seed
  data, info = one_shot.rcc_compress(x, one_shot.gaussian_qy_sampler(np.array(var)), seed, -2.0,
                                     args.pop("num_candidates"), args.pop("rate_param_bits"), **args)
  return data, (info["samples"], info["indices"])


def _reseal_header(buf: bytearray) -> bytes:
  struct.pack_into("<I", buf, 56, zlib.crc32(bytes(buf[:56])))
  return bytes(buf)


def _reseal_payload(buf: bytearray, one_shot) -> bytes:
  struct.pack_into("<I", buf, len(buf) - 4, zlib.crc32(bytes(buf[one_shot.HEADER.size:-4])))
  return bytes(buf)


_INT_VALUES = (0, 1, 2, 3, 4, 5, 8, 31, 60, 61, 100, 255, 256, 1023, 1024, 4095, 4096, 4097, 1 << 16, 1 << 24,
               (1 << 24) + 1, 1 << 31, (1 << 32) - 1)
_FLOAT_VALUES = (float("nan"), float("inf"), -float("inf"), -1.0, -0.0, 0.0, 0.5, 1.0, 2.0, 1e-300, 1e300,
                 float(1 << 20), float(1 << 20) + 1)


def _forged_value(name, current, rng):
  fmt = {"magic": "4s", "method": "B", "flags": "B", "reserved": "H", "rate_param_bits": "d",
         "sampler_fingerprint": "8s", "environment_fingerprint": "4s", "seed_fingerprint": "4s"}.get(name, "I")
  if fmt == "d":
    return float(rng.choice(_FLOAT_VALUES)) if rng.random() < 0.6 else float(rng.normal(0, 10))
  if fmt.endswith("s"):
    return rng.integers(0, 256, int(fmt[:-1]), dtype=np.uint8).tobytes()
  top = {"B": 255, "H": 65535, "I": (1 << 32) - 1}[fmt]
  r = rng.random()
  if r < 0.4:
    v = int(rng.choice(_INT_VALUES))
  elif r < 0.7:
    v = int(current) + int(rng.integers(-3, 4))
  else:
    v = int(rng.integers(0, top + 1, dtype=np.uint64))
  return min(max(v, 0), top)


def _forge(data, one_shot, rng, resize):
  fields = dict(zip(one_shot.HEADER_FIELDS, one_shot.HEADER.unpack_from(data)))
  name = str(rng.choice([f for f in one_shot.HEADER_FIELDS if f not in ("magic", "header_crc")]))
  fields[name] = _forged_value(name, fields[name], rng)
  head = bytearray(one_shot.HEADER.pack(*(fields[f] for f in one_shot.HEADER_FIELDS)))
  body = data[one_shot.HEADER.size:-4]
  if resize and fields["payload_bytes"] <= 1 << 16:  # make the total length agree with the forged field
    size = fields["payload_bytes"]
    body = (body + rng.integers(0, 256, max(size - len(body), 0), dtype=np.uint8).tobytes())[:size]
  return _reseal_header(head) + body + struct.pack("<I", zlib.crc32(body))


def _mutate(kind, data, one_shot, rng):
  n = len(data)
  buf = bytearray(data)
  hsize = one_shot.HEADER.size
  if kind == "truncate":
    return bytes(buf[: rng.integers(0, n)])
  if kind == "bit_flip":
    for _ in range(rng.integers(1, 4)):
      buf[rng.integers(0, n)] ^= 1 << int(rng.integers(0, 8))
    return bytes(buf)
  if kind == "byte_overwrite":
    buf[rng.integers(0, n)] = int(rng.integers(0, 256))
    return bytes(buf)
  if kind == "insert_delete":
    pos = int(rng.integers(0, n))
    if rng.random() < 0.5:
      return bytes(buf[:pos] + bytes([int(rng.integers(0, 256))]) + buf[pos:])
    return bytes(buf[:pos] + buf[pos + 1:])
  if kind == "append":
    return bytes(buf) + rng.integers(0, 256, rng.integers(1, 65), dtype=np.uint8).tobytes()
  if kind == "garbage":
    junk = rng.integers(0, 256, rng.integers(0, 2 * n), dtype=np.uint8).tobytes()
    return (one_shot.MAGIC + junk) if rng.random() < 0.5 else junk
  if kind == "payload_resealed":
    for _ in range(rng.integers(1, 4)):
      buf[rng.integers(hsize, n - 4)] ^= 1 << int(rng.integers(0, 8))
    return _reseal_payload(buf, one_shot)
  if kind == "header_resealed":
    buf[rng.integers(4, 56)] ^= 1 << int(rng.integers(0, 8))
    return _reseal_header(buf)
  if kind in ("forged_field", "forged_field_resized"):
    return _forge(data, one_shot, rng, resize=kind == "forged_field_resized")
  if kind == "magic":
    buf[:4] = (b"RCC" + bytes([int(rng.integers(48, 58))])) if rng.random() < 0.7 else rng.bytes(4)
    return bytes(buf)
  raise ValueError(kind)


def build_tasks(num_files: int, seed: int = 0):
  """Reference decoders, expected outputs and the (kind, data, ref) list of files to decode."""
  from lossyless_jax.entropy import coding, one_shot  # noqa: PLC0415
  from lossyless_jax.entropy.factorized import EntropyBottleneck  # noqa: PLC0415
  from lossyless_jax.entropy.testing import numpy_params  # noqa: PLC0415

  refs, bases, pool = {}, [], []
  for name, kw in (("base_pfr", {}), ("base_orc", {"method": "orc", "num_candidates": 256, "chunk_size": 256,
                                                    "sources_per_codebook": 1, "n": 20})):
    data, expect = _encode(one_shot, REF_VAR, REF_SEED, **kw)
    refs[name] = expect
    bases.append((name, data))
  for name, var, s, kw in FOREIGN:
    if name == "env":
      real = one_shot.sampling_environment
      one_shot.sampling_environment = lambda seed=None: "jax 0.0.0; jaxlib 0.0.0; prng rbg; backend tpu"
      try:
        data, expect = _encode(one_shot, var, s, **kw)
      finally:
        one_shot.sampling_environment = real
    else:
      data, expect = _encode(one_shot, var, s, **kw)
    assert name not in refs, name
    refs[name] = expect
    pool.append((name, data))
  state = coding.make_model_state(numpy_params(EntropyBottleneck(4), 4, seed=0, perturb=0.2))
  pool.append(("ljxb", coding.compress(state, np.zeros((3, 4), np.float32))))
  old = struct.pack("<4sBIIIId", b"RCC2", 0, 4096, 1024, 60, 10, 1.0) + bases[0][1][60:-4]
  pool.append(("rcc2", old + struct.pack("<I", zlib.crc32(old))))
  rng = np.random.default_rng(seed)
  tasks = []
  for i in range(num_files):
    kind = KINDS[i % len(KINDS)]
    if kind == "foreign":
      name, data = pool[(i // len(KINDS)) % len(pool)]
      tasks.append((f"foreign:{name}", data, name))
    else:
      name, data = bases[int(rng.integers(0, len(bases)))]
      tasks.append((kind, _mutate(kind, data, one_shot, rng), name))
  return {"refs": refs, "tasks": tasks, "file_bytes": {n: len(d) for n, d in bases + pool}}


# ----------------------------------------------------------------------------- worker
def _vm_bytes() -> int:
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmSize:"):
        return int(line.split()[1]) * 1024
  raise RuntimeError("no VmSize in /proc/self/status")


def worker(path: str, start: int, mem_gib: float) -> None:
  from lossyless_jax.entropy import container, one_shot  # noqa: PLC0415
  with open(path, "rb") as f:
    spec = pickle.load(f)
  qy = one_shot.gaussian_qy_sampler(np.array(REF_VAR))
  for kind, data, ref in spec["tasks"]:  # warm-up: compile the sampler for every chunk shape in use
    if kind.startswith("foreign:") and ref not in ("var_0.5", "var_2d", "seed_1", "seed_99", "env", "ljxb", "rcc2"):
      one_shot.rcc_decompress(data, qy, REF_SEED)
  rss_warm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
  limit = _vm_bytes() + int(mem_gib * (1 << 30))
  resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
  print(json.dumps({"ready": True, "rss_warm_mib": rss_warm}), flush=True)
  for i in range(start, len(spec["tasks"])):
    kind, data, ref = spec["tasks"][i]
    t = time.perf_counter()
    message = ""
    try:
      samples, indices = one_shot.rcc_decompress(data, qy, REF_SEED)
    except container.BitstreamError as e:
      outcome, message = type(e).__name__, str(e)
    except Exception as e:  # noqa: BLE001 — anything else is a finding
      outcome, message = f"error:{type(e).__name__}", str(e)[:300]
    else:
      exp_samples, exp_indices = spec["refs"][ref]
      ok = np.array_equal(samples, exp_samples) and np.array_equal(indices, exp_indices)
      outcome = "decoded_exactly" if ok else "wrong_decode"
    print(json.dumps({"i": i, "outcome": outcome, "s": time.perf_counter() - t, "msg": message[:200],
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}), flush=True)


# ----------------------------------------------------------------------------- parent: driver
def _start(path, start, mem_gib):
  return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", path, "--start", str(start),
                           "--mem_gib", str(mem_gib)], stdout=subprocess.PIPE, text=True, bufsize=1)


def _readline(proc, timeout):
  ready, _, _ = select.select([proc.stdout], [], [], timeout)
  return proc.stdout.readline() if ready else None


def _stop(proc):
  if proc.poll() is None:
    proc.kill()  # only the worker this script started
  proc.wait()


def run(num_files: int, mem_gib: float, timeout_s: float, seed: int = 0) -> dict:
  t0 = time.time()
  spec = build_tasks(num_files, seed)
  results = [None] * num_files
  rss_warm = rss_peak = 0
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "tasks.pkl")
    with open(path, "wb") as f:
      pickle.dump(spec, f)
    i = 0
    while i < num_files:
      proc = _start(path, i, mem_gib)
      line = _readline(proc, 600)
      if not line:
        _stop(proc)
        raise RuntimeError(f"fuzz worker did not start (exit status {proc.returncode})")
      rss_warm = max(rss_warm, json.loads(line)["rss_warm_mib"])
      while i < num_files:
        line = _readline(proc, timeout_s)
        if line is None:
          results[i] = {"outcome": "hang", "s": timeout_s, "msg": ""}
          _stop(proc)
          i += 1
          break
        if not line:
          _stop(proc)
          results[i] = {"outcome": f"crash:{proc.returncode}", "s": 0.0, "msg": ""}
          i += 1
          break
        r = json.loads(line)
        rss_peak = max(rss_peak, r["rss_mib"])
        results[r["i"]] = r
        i = r["i"] + 1
      else:
        _stop(proc)
  outcomes, by_kind, bad = {}, {}, []
  for (kind, _, _), r in zip(spec["tasks"], results):
    outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    k = by_kind.setdefault(kind.split(":")[0] if not kind.startswith("foreign:") else kind, {})
    k[r["outcome"]] = k.get(r["outcome"], 0) + 1
    if r["outcome"] not in ALLOWED and len(bad) < 20:
      bad.append({"kind": kind, **r})
  slowest = int(np.argmax([r["s"] for r in results]))
  return {"name": "fuzz_rcc", "files": num_files, "outcomes": outcomes, "by_kind": by_kind,
          "bad": bad, "ok": not bad and all(r["outcome"] in ALLOWED for r in results),
          "slowest_s": round(results[slowest]["s"], 3), "slowest_kind": spec["tasks"][slowest][0],
          "worker_rss_warm_mib": rss_warm, "worker_peak_rss_mib": rss_peak, "mem_limit_gib": mem_gib,
          "timeout_s": timeout_s, "file_bytes": spec["file_bytes"], "wall_s": round(time.time() - t0, 1)}


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--files", type=int, default=2400)
  p.add_argument("--smoke", action="store_true", help="240 files (the test suite's run)")
  p.add_argument("--mem_gib", type=float, default=2.0, help="address space a decode may add (RLIMIT_AS)")
  p.add_argument("--timeout_s", type=float, default=30.0, help="per-file limit")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--worker", help=argparse.SUPPRESS)
  p.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.worker:
    worker(args.worker, args.start, args.mem_gib)
    return 0
  out = run(240 if args.smoke else args.files, args.mem_gib, args.timeout_s, args.seed)
  print(json.dumps(out))
  return 0 if out["ok"] else 1


if __name__ == "__main__":
  sys.exit(main())
