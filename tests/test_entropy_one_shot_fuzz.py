"""Fuzz of RCC bitstreams (`benchmarks/fuzz_rcc.py --smoke`): mutated, forged and foreign files each
raise a documented BitstreamError subclass or decode exactly, under a memory and a per-file time limit."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_fuzz_rcc_smoke():
  proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "fuzz_rcc.py"), "--smoke"],
                        capture_output=True, text=True, timeout=300, cwd=ROOT,
                        env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert proc.stdout.strip(), proc.stderr[-3000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  print(json.dumps({k: out[k] for k in ("outcomes", "slowest_s", "worker_peak_rss_mib", "wall_s")}))
  assert proc.returncode == 0 and out["ok"] and not out["bad"], out["bad"]
  assert out["files"] == sum(out["outcomes"].values()) == 240
  for name in ("NotABitstreamError", "UnsupportedVersionError", "TruncatedBitstreamError",
               "CorruptedBitstreamError", "ForeignModelError", "decoded_exactly"):
    assert out["outcomes"].get(name, 0) > 0, (name, out["outcomes"])
  # Files of another Q_Y, seed or sampling environment are refused; those of the same model with
  # other N / chunk / sources per codebook decode exactly to their own encoder's samples.
  for name in ("var_0.5", "var_2d", "seed_1", "env"):
    assert set(out["by_kind"][f"foreign:{name}"]) == {"ForeignModelError"}
  for name in ("N_1024", "chunk_100", "per_cb_3", "key_seed"):
    assert set(out["by_kind"][f"foreign:{name}"]) == {"decoded_exactly"}
  assert out["slowest_s"] < out["timeout_s"]
