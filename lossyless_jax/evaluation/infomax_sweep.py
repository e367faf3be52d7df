"""The capacity sweep of noise-injected Deep InfoMax (Butakov et al., Fig. 1) from the runs' reports.

Per noise scale (σ or ε; 0 is noise-free, drawn at the right end of the capacity axis as "∞"): the mean
over seeds and the 99 % asymptotic confidence half-width 2.576·s/√n (App. C) of the InfoNCE estimate,
the mean p-values of the three normality tests, the GaussianNB / kNN / MLP ROC AUCs, the silhouette
score, |correlation| and the largest logged excess of the MI over min(log N, C). The plot has Fig. 1's
two panels: MI with the bound (5) (dashed) and log N, and the p-values; the AUCs and the silhouette,
with the dotted line at C = log 10 (the capacity the 10 classes need).

``python -m lossyless_jax.evaluation.infomax_sweep DIR`` reads every ``report.json`` under DIR (e.g. a
`launch/sweep.py` directory) and writes ``DIR/infomax_sweep.json`` and ``DIR/infomax_sweep.png``;
`launch/sweep.py` calls `write` itself when its runs are noise-injected DIM runs.
"""
from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

from lossyless_jax import plotting
from lossyless_jax.evaluation import seeds

__all__ = ["METRICS", "Z99", "row", "collect", "summarize", "plot", "write"]

Z99 = 2.5758  # two-sided 99 % normal quantile: Fig. 1 reports asymptotic intervals, mean ± 2.576·std/√n
METRICS = ("mi_nats", "shapiro_p", "dagostino_p", "henze_zirkler_p", "gnb_auc", "knn_auc", "mlp_auc", "knn_accuracy",
           "silhouette", "max_abs_correlation", "mi_logged_max_excess_nats")


def row(report: dict, seed, workdir: str = "") -> dict:
  """The sweep's row of one run's report."""
  return {"noise": report["noise"], "noise_scale": float(report["noise_scale"]), "capacity_nats": report["capacity_nats"],
          "log_batch_nats": report["log_batch_nats"], "seed": seed, "workdir": workdir,
          **{k: report.get(k) for k in METRICS}}


def collect(folder: str) -> list[dict]:
  """Rows of every noise-injected DIM run (a report with `capacity_nats`) under `folder`."""
  rows = []
  for root, _, files in sorted(os.walk(folder)):
    if "report.json" not in files:
      continue
    with open(os.path.join(root, "report.json")) as f:
      report = json.load(f)
    if "capacity_nats" not in report:
      continue
    seed = None
    if os.path.exists(os.path.join(root, "config.json")):
      with open(os.path.join(root, "config.json")) as f:
        seed = json.load(f).get("seed")
    rows.append(row(report, seed, root))
  return rows


def _stats(values) -> dict:
  v = np.asarray([x for x in values if x is not None], np.float64)
  if not len(v):
    return {"mean": None, "ci99": None, "n": 0}
  half = Z99 * v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else 0.0
  return {"mean": float(v.mean()), "ci99": float(half), "n": int(len(v))}


def summarize(rows: list[dict]) -> list[dict]:
  """One entry per noise scale (largest capacity first, noise-free first of all): `noise_scale`,
  `capacity_nats`, `seeds` and {mean, ci99, n} of each of `METRICS`."""
  scales = sorted({r["noise_scale"] for r in rows}, key=lambda s: (s != 0, s))
  out = []
  for s in scales:
    mine = [r for r in rows if r["noise_scale"] == s]
    out.append({"noise_scale": s, "capacity_nats": mine[0]["capacity_nats"], "log_batch_nats": mine[0]["log_batch_nats"],
                "seeds": sorted(r["seed"] for r in mine if r["seed"] is not None),
                **{k: _stats(r[k] for r in mine) for k in METRICS}})
  return out


def plot(summary: list[dict], path: str) -> str:
  """Fig. 1-style plot of `summarize`'s output (99 % intervals as error bars)."""
  finite = [e["capacity_nats"] for e in summary if e["capacity_nats"] is not None]
  inf_x = (max(finite) if finite else 1.0) * 1.15 + 0.5
  xs = np.array([inf_x if e["capacity_nats"] is None else e["capacity_nats"] for e in summary])
  order = np.argsort(xs)
  xs = xs[order]
  entries = [summary[i] for i in order]
  series = lambda k: (np.array([np.nan if e[k]["mean"] is None else e[k]["mean"] for e in entries]),
                      np.array([np.nan if e[k]["ci99"] is None else e[k]["ci99"] for e in entries]))
  fig, (top, bottom) = plotting.subplots(2, 1, figsize=(6.4, 7), sharex=True)
  m, ci = series("mi_nats")
  top.errorbar(xs, m, yerr=ci, marker="o", color="k", capsize=2, label="InfoNCE estimate")
  grid = np.linspace(0, max(finite + [1.0]), 100)
  top.plot(grid, grid, "k--", lw=0.8, label="bound (5): C")
  top.axhline(entries[0]["log_batch_nats"], color="gray", ls=":", lw=0.8, label="log N")
  top.set_ylabel("MI [nats]")
  pv = top.twinx()
  for k, name, colour in (("dagostino_p", "D'Agostino–Pearson", "C0"), ("shapiro_p", "Shapiro–Wilk", "C1"),
                          ("henze_zirkler_p", "Henze–Zirkler", "C2")):
    m, ci = series(k)
    pv.errorbar(xs, m, yerr=ci, marker="s", ms=3, color=colour, capsize=2, label=name)
  pv.set_ylim(0, 1)
  pv.set_ylabel("mean p-value")
  h1, l1 = top.get_legend_handles_labels()
  h2, l2 = pv.get_legend_handles_labels()
  top.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
  for k, name, colour in (("gnb_auc", "Gaussian NB", "C3"), ("knn_auc", "kNN", "C4"), ("mlp_auc", "MLP", "C5")):
    m, ci = series(k)
    bottom.errorbar(xs, m, yerr=ci, marker="o", ms=3, color=colour, capsize=2, label=f"ROC AUC, {name}")
  bottom.set_ylabel("ROC AUC")
  sil = bottom.twinx()
  m, ci = series("silhouette")
  sil.errorbar(xs, m, yerr=ci, marker="^", color="k", capsize=2, label="silhouette")
  sil.set_ylabel("silhouette score")
  h1, l1 = bottom.get_legend_handles_labels()
  h2, l2 = sil.get_legend_handles_labels()
  bottom.legend(h1 + h2, l1 + l2, fontsize=7, loc="lower right")
  for ax in (top, bottom):
    ax.axvline(math.log(10), color="gray", ls="-.", lw=0.8)
    ax.grid(alpha=0.3)
  ticks = [t for t in bottom.get_xticks() if 0 <= t < inf_x - 0.3] + [inf_x]
  bottom.set_xticks(ticks, [f"{t:g}" for t in ticks[:-1]] + ["∞\n(no noise)"])
  bottom.set_xlim(0, inf_x + 0.5)
  bottom.set_xlabel("capacity C [nats]")
  num_seeds = max(len(e["seeds"]) for e in entries)
  top.set_title("capacity sweep, " + (f"mean ± 99 % interval over {num_seeds} seeds" if num_seeds > 1 else "one seed"),
                fontsize=9)
  return plotting.save(fig, path)


def write(rows: list[dict], folder: str, **extra) -> dict:
  """Writes `folder/infomax_sweep.json` (rows, summary, `extra`) and `folder/infomax_sweep.png`; returns them."""
  summary = summarize(rows)
  result = {**extra, "summary": summary, "rows": rows,
            "plot": plot(summary, os.path.join(folder, "infomax_sweep.png"))}
  with open(os.path.join(folder, "infomax_sweep.json"), "w") as f:
    json.dump(result, f, indent=1)
  return result


def table(summary: list[dict]) -> str:
  keys = ("mi_nats", "shapiro_p", "dagostino_p", "henze_zirkler_p", "knn_auc", "mlp_auc", "silhouette",
          "max_abs_correlation")
  lines = [f"{'scale':>7} {'C':>6} " + " ".join(f"{k[:13]:>15}" for k in keys)]
  for e in summary:
    cap = "inf" if e["capacity_nats"] is None else f"{e['capacity_nats']:.2f}"
    cells = [seeds.show(e[k]["mean"], e[k]["ci99"], e[k]["n"], ".3f", ".3f", "±") for k in keys]
    lines.append(f"{e['noise_scale']:>7g} {cap:>6} " + " ".join(f"{c:>15}" for c in cells))
  return "\n".join(lines)


if __name__ == "__main__":
  if len(sys.argv) != 2:
    sys.exit("usage: python -m lossyless_jax.evaluation.infomax_sweep DIR")
  result = write(collect(sys.argv[1]), sys.argv[1])
  print(table(result["summary"]))
