"""Summarises digits λ sweeps of the invariant compressors: bits, accuracy and the classical ratio.

Sweep (plain runs of `launch/main.py`; `model.eval.cache_dir` shares the classical and
uncompressed rows between the runs):

  for m_l in vic:0.1 vic:0.3 vic:0.35 vic:0.4 vic:0.5 vic:1 vc:0.001 vc:0.01 bince:20 bince:40; do
    m=${m_l%%:*}; l=${m_l#*:}
    python launch/main.py --config=configs/digits_$m.py --workdir=workdirs/sweep_${m}_l$l \\
        --config.coefs.rate.value=$l --config.model.eval.cache_dir=workdirs/sweep_cache
  done
  python benchmarks/lossyless_digits.py workdirs/sweep_*

Prints one row per workdir (method, λ, steps, estimated / coded bits per image, `probe_accuracy`
= the test accuracy of the probe chosen on validation, `uncompressed_accuracy`, the classical
ratio (* when no codec setting comes within 2 points: the ratio to the most accurate one), the
coded-within-2 % flag), then every (VIC, VC) and (BINCE, VC) pair whose `probe_accuracy` differ
by at most 1 point, with VC's coded bits over the other's.
"""
from __future__ import annotations

import itertools
import json
import os
import sys


def load(workdir: str) -> dict | None:
  """report.json + λ and steps from config.json; None when the run has no report yet."""
  try:
    with open(os.path.join(workdir, "report.json")) as f:
      r = json.load(f)
    with open(os.path.join(workdir, "config.json")) as f:
      c = json.load(f)
  except FileNotFoundError:
    return None
  sup = c["loss"].get("equivalence") == "label"
  return {**r, "workdir": workdir, "lmbda": c["coefs"]["rate"]["value"], "z_dim": c["model"]["z_dim"],
          "label": r["method"] + ("-sup" if sup else "")}


def main(workdirs):
  runs = [r for r in map(load, workdirs) if r is not None]
  runs.sort(key=lambda r: (r["label"], r["lmbda"]))
  print(f"{'method':<10}{'λ':>8}{'z':>4}{'steps':>6}{'est':>8}{'coded':>8}{'probe':>8}{'uncomp':>8}"
        f"{'classical ratio':>22}{'2%':>6}  workdir")
  for r in runs:
    ratio = (f"{r['classical_over_coded_ratio']:.1f}× {r['classical_reference']}"
             + ("" if r["classical_within_2pts"] else "*") if "classical_reference" in r else "-")
    print(f"{r['label']:<10}{r['lmbda']:>8g}{r['z_dim']:>4}{r['steps']:>6}{r['bits_per_image_estimated']:>8.1f}"
          f"{r['bits_per_image_coded']:>8.1f}{r['probe_accuracy']:>8.4f}"
          f"{r.get('uncompressed_accuracy', float('nan')):>8.4f}{ratio:>22}"
          f"{str(r['coded_within_2pct_plus_header']):>6}  {r['workdir']}")
  print("\npairs with |Δ probe_accuracy| <= 1 point (VC coded bits / other's coded bits)")
  vc = [r for r in runs if r["label"] == "vc"]
  for r, v in itertools.product([r for r in runs if r["label"] in ("vic", "bince")], vc):
    if abs(r["probe_accuracy"] - v["probe_accuracy"]) <= 0.01:
      print(f"  {r['label']} λ={r['lmbda']:g} ({r['bits_per_image_coded']:.1f} bits, {r['probe_accuracy']:.4f})"
            f" vs vc λ={v['lmbda']:g} ({v['bits_per_image_coded']:.1f} bits, {v['probe_accuracy']:.4f}):"
            f" {v['bits_per_image_coded'] / r['bits_per_image_coded']:.2f}×")


if __name__ == "__main__":
  if len(sys.argv) < 2:
    raise SystemExit(f"usage: python {sys.argv[0]} WORKDIR [WORKDIR ...]")
  main(sys.argv[1:])
