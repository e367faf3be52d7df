"""Report: `python launch/report.py DIR... [--out=DIR] [--confidence=0.95] [--anchor=CODEC]`.

Collects the finished runs under each DIR (a `launch/sweep.py` directory, or any folder of run
workdirs: `report.json`, `config.json`) and writes to --out (default: the first DIR):

- `runs.csv`: one row per run, every number of its report; `summary.md`: per config and grid point,
  mean ± confidence half-width (Student t, --confidence) over seeds;
- by kind of run (`lossyless_jax.evaluation.sweep_report`): invariant compression: rate–distortion
  curves with the AURD per config, mean ± s.e. over seeds (Dubois et al. §5.1), and with --anchor the
  BD-rate of every config against that one, `rd_curve.png`;
  Gray-Wyner: the BD-rates of Rt and Rr against each codec (--anchor: only that one) and the Rt / Rr
  panels with the synthetic source's exact curves, `rd_curve.png`; noise-injected InfoMax: the
  capacity sweep, `infomax_sweep.png`; NERD: the estimated R(D) with the closed form where the
  source has one, `nerd_curves.png`;
- the gap in bits of every compressor operating point (a VC run under the squared error of a NERD
  source, e.g. `configs/nerd_digits_vc.py`) to the NERD curve of the same source: rate − R̂(D);
- `sweep_report.json`: all of the above.
"""
import json
import os

from absl import app, flags

import common
from lossyless_jax.evaluation import sweep_report

_OUT = flags.DEFINE_string("out", None, "Folder of the tables and plots (default: the first DIR).")
_CONFIDENCE = flags.DEFINE_float("confidence", 0.95, "Confidence level of the intervals over seeds.")
_ANCHOR = flags.DEFINE_string("anchor", None, "BD-rates against this config (R–D curves) or codec (Gray-Wyner; default: each).")
_METRICS = flags.DEFINE_list("metrics", [], "Columns of summary.md (default: the numbers every run reports).")


def report(dirs, out_dir: str, confidence: float = 0.95, anchor: str | None = None, metrics=(), log=print) -> dict:
  """Writes the tables, plots and `sweep_report.json` of the runs under `dirs` to `out_dir`."""
  entries = sweep_report.collect(dirs)
  if not entries:
    raise FileNotFoundError(f"no finished runs (report.json) under {', '.join(dirs)}")
  os.makedirs(out_dir, exist_ok=True)
  tables = sweep_report.write_tables(entries, out_dir, confidence, metrics)
  log(f"{len(entries)} runs -> {tables['csv']}, {tables['markdown']}\n\n{tables['table']}")
  by_kind = {}
  for e in entries:
    by_kind.setdefault(sweep_report.kind(e.report), []).append(e)
  result = {"runs": len(entries), "confidence": confidence, "over_seeds": tables["groups"]}
  for what in ("rd", "gray_wyner", "infomax"):
    if what in by_kind:
      result[what], text = sweep_report.summarize_kind(what, by_kind[what], out_dir, anchor=anchor if what != "infomax" else None)
      log(f"\n{what}:\n{text}")
  if "nerd" in by_kind:
    result["nerd"] = sweep_report.nerd_curves(by_kind["nerd"], out_dir, confidence)
    for label, c in result["nerd"]["curves"].items():
      exact = c.get("R_exact_bits")
      log(f"\nNERD {label} ({c['distortion']}): " + "  ".join(
        f"β̃ {b:g}: D {d['mean']:.4g} R {r['mean']:.3f}" + (f" (R(D) {x['mean']:.3f})" if exact else "")
        for b, d, r, x in zip(c["beta"], c["D"], c["R_bits"], exact or c["R_bits"])))
    gaps = sweep_report.gaps_to_nerd(by_kind["nerd"], by_kind.get("rd", []))
    if gaps:
      result["gaps_to_nerd"] = gaps
      log("\ngap to NERD's R(D) of the same source (rate − R̂(D), bits):\n" + sweep_report.gap_table(gaps))
  with open(os.path.join(out_dir, "sweep_report.json"), "w") as f:
    json.dump(result, f, indent=1)
  return result


def main(argv):
  common.quiet_libraries()
  dirs = argv[1:]
  if not dirs:
    raise app.UsageError("give the sweep directories: python launch/report.py DIR...")
  report(dirs, _OUT.value or dirs[0], _CONFIDENCE.value, _ANCHOR.value, _METRICS.value,
         log=lambda s: print(s, flush=True))


if __name__ == "__main__":
  common.run(main, __doc__, list_configs=False)
