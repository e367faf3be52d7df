"""Runs every benchmark: one JSON line per measurement, each naming the commit, device and JAX version.

  python benchmarks/all.py [--smoke] [--only NAME,...] [--compare REV]

The scripts (`SCRIPTS`) run one after the other in fresh processes, with their default (full) sizes
or with `--smoke` (tiny sizes: what the test suite runs, so that none can rot). Every JSON line a
script prints is passed through with ``commit``, ``device`` and ``jax`` added where it lacks them.

`--compare REV` also runs each script as it is at commit REV (exported with `git archive`), where
the script exists there, and prints a ``compare`` line per measurement that both commits produced
(same ``name``) with the ratio of every throughput field (``*_per_s``: this / REV; above 1 is
faster) and of every time field (``seconds``, ``compile_s``: REV / this; above 1 is faster).
`train_step.py` does its own alternating comparison of the bare steps (`--compare` passed on).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(HERE, "benchmarks"))

import train_step  # noqa: E402  (commit_of, export_commit)

# name -> (script, full-size arguments, smoke arguments)
SCRIPTS = {
    "train_step": ("train_step.py", [], ["--smoke"]),
    "coding": ("coding.py", [], ["--smoke"]),
    "context_coding": ("context_coding.py", ["--engine", "exact-f64"], ["--smoke"]),
    "nerd_eval_memory": ("nerd_eval_memory.py", [], ["--smoke"]),
    "cityscapes_loader": ("cityscapes_loader.py", [], ["--smoke"]),
    "gray_wyner_cityscapes_step": ("gray_wyner_cityscapes_step.py", [], ["--smoke"]),
    "lossyless_digits": ("lossyless_digits.py", None, ["--smoke"]),  # tabulates workdirs: smoke only
    "fuzz_rcc": ("fuzz_rcc.py", [], ["--smoke"]),
    "malformed_invocations": ("malformed_invocations.py", [], ["--smoke"]),
}
TIME_FIELDS = ("seconds", "compile_s")


def _device() -> tuple[str, str]:
  out = subprocess.run([sys.executable, "-c", "import jax; print(jax.devices()[0].device_kind, jax.__version__)"],
                       capture_output=True, text=True)
  kind, _, version = out.stdout.strip().rpartition(" ")
  return kind or "unknown", version or "unknown"


def run(root: str, name: str, smoke: bool, extra=()) -> tuple[int, list[dict], str]:
  """(exit status, JSON rows, other output) of benchmark `name` as it is under `root`."""
  script, full, smoke_args = SCRIPTS[name]
  args = smoke_args if smoke else full
  out = subprocess.run([sys.executable, os.path.join(root, "benchmarks", script), *args, *extra],
                       capture_output=True, text=True, cwd=root)
  rows, text = [], []
  for line in out.stdout.splitlines():
    try:
      row = json.loads(line) if line.startswith("{") else None
    except json.JSONDecodeError:
      row = None
    (rows.append(row) if isinstance(row, dict) else text.append(line))
  return out.returncode, rows, "\n".join(text + out.stderr.splitlines()[-20:])


def ratios(this: dict, that: dict) -> dict:
  """Throughput ratios this/that and time ratios that/this of the fields both rows hold."""
  out = {}
  for k, v in this.items():
    w = that.get(k)
    if not (isinstance(v, (int, float)) and isinstance(w, (int, float))) or not v or not w:
      continue
    if k.endswith("_per_s"):
      out[k] = round(v / w, 3)
    elif k in TIME_FIELDS:
      out[k] = round(w / v, 3)
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--smoke", action="store_true", help="every benchmark's tiny mode (the test suite)")
  parser.add_argument("--only", help=f"comma list of benchmarks (default all: {', '.join(SCRIPTS)})")
  parser.add_argument("--compare", metavar="REV", help="also run each benchmark at commit REV and print ratios")
  args = parser.parse_args(argv)
  names = args.only.split(",") if args.only else list(SCRIPTS)
  unknown = [n for n in names if n not in SCRIPTS]
  if unknown:
    parser.error(f"--only: unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(SCRIPTS)}")
  names = [n for n in names if args.smoke or SCRIPTS[n][1] is not None]
  commit = train_step.commit_of(HERE)
  device, jax_version = _device()
  stamp = {"commit": commit, "device": device, "jax": jax_version}
  failed = []
  with tempfile.TemporaryDirectory(prefix="bench_all_") as other:
    rev = train_step.export_commit(args.compare, other) if args.compare else None
    for name in names:
      extra = ["--compare", args.compare] if args.compare and name == "train_step" else []
      code, rows, text = run(HERE, name, args.smoke, extra)
      for row in rows:
        print(json.dumps({**stamp, **row, "benchmark": name}), flush=True)
      if code:
        failed.append(name)
        print(f"{name}: exit status {code}\n{text}", file=sys.stderr, flush=True)
      if rev is None or extra or not os.path.exists(os.path.join(other, "benchmarks", SCRIPTS[name][0])):
        continue
      _, old_rows, _ = run(other, name, args.smoke)
      old = {r.get("name"): r for r in old_rows}
      for row in rows:
        if row.get("name") in old and ratios(row, old[row["name"]]):
          print(json.dumps({"name": f"compare/{row['name']}", "benchmark": name, "commit": commit, "compare": rev,
                            "ratios": ratios(row, old[row["name"]])}), flush=True)
  if failed:
    print(f"failed: {', '.join(failed)}", file=sys.stderr)
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
