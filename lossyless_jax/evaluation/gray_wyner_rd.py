"""Rate–distortion curves of Gray-Wyner codecs from their reports: BD-rates and the Rt / Rr plots
(Gray-Wyner paper §4.1, Figs. 3–5, Tables 3–5).

A report (``report.json`` of a ``gray_wyner`` run) holds ``codec``, ``R0, R1, R2, Rt, Rr`` in
``rate_unit`` and the task metrics. The distortion axis is ``D1 + D2``: the sum of the two task
RMSEs on the synthetic source ("RMSE sum", §4.1), the sum of the two error rates
``(1 − acc)`` on coloured digits. The BD-rate is Bjøntegaard's with a cubic fit of ``ln R``
against the quality ``−(D1 + D2)`` (§6.2 of the paper's code: the polynomial option,
``evaluation.rd_curves.bd_rate(method="cubic")``); negative means fewer bits than the anchor.
The paper's anchors: the Joint codec for transmit rates ``Rt``, Independent for receive rates
``Rr``.

On Cityscapes (§4.3, Fig. 6, Table 7) the quality is ``mIoU + 1/RMSE`` (disparity RMSE in pixels;
higher is better), the curves' ``distortion`` is its negative, the BD-rates are against Joint, and
:func:`plot` draws the quality against ``Rt`` and ``Rr`` with the uncompressed task networks' line
(:data:`CITYSCAPES_UNCOMPRESSED`, 0.6716 + 1/5.5052 for the authors' networks).
"""
from __future__ import annotations

from typing import Iterable, Mapping, Optional

import numpy as np

from lossyless_jax import plotting
from lossyless_jax.evaluation import rd_curves

__all__ = ["RATE_KEYS", "CITYSCAPES_UNCOMPRESSED", "distortion", "quality", "curves", "bd_rates", "plot"]

RATE_KEYS = ("R0", "R1", "R2", "Rt", "Rr")
CITYSCAPES_UNCOMPRESSED = 0.6716 + 1 / 5.5052  # Table 7: the uncompressed task networks' mIoU + 1/RMSE


def quality(report: Mapping) -> float:
  """Higher is better: ``mIoU + 1/RMSE`` on Cityscapes, else ``−(D1 + D2)``."""
  if "miou" in report and "rmse_px" in report:
    return float(report["miou"]) + 1.0 / float(report["rmse_px"])
  return -distortion(report)


def distortion(report: Mapping) -> float:
  """``D1 + D2`` of one report (see module docstring; Cityscapes: ``−(mIoU + 1/RMSE)``)."""
  if "miou" in report and "rmse_px" in report:
    return -quality(report)
  if "rmse_1" in report and "rmse_2" in report:
    return float(report["rmse_1"]) + float(report["rmse_2"])
  if "acc_digit" in report and "acc_colour" in report:
    return (1.0 - float(report["acc_digit"])) + (1.0 - float(report["acc_colour"]))
  raise KeyError(f"a Gray-Wyner report needs rmse_1/rmse_2 or acc_digit/acc_colour, got {sorted(report)}")


def curves(reports: Iterable[Mapping]) -> dict[str, dict[str, np.ndarray]]:
  """Per codec, its points sorted by distortion: ``{"distortion", "R0", ..., "Rr", "eta", "beta"}``."""
  out: dict[str, dict[str, list]] = {}
  for r in reports:
    c = out.setdefault(str(r["codec"]), {k: [] for k in ("distortion", *RATE_KEYS, "eta", "beta")})
    c["distortion"].append(distortion(r))
    for k in RATE_KEYS:
      c[k].append(float(r[k]))
    c["eta"].append(float(r.get("eta", np.nan)))
    c["beta"].append(float(r.get("beta", np.nan)))
  result = {}
  for codec, c in out.items():
    order = np.argsort(c["distortion"], kind="stable")
    result[codec] = {k: np.asarray(v, np.float64)[order] for k, v in c.items()}
  return result


def bd_rates(curves_by_codec: Mapping[str, Mapping[str, np.ndarray]], anchor: str, rate: str = "Rt",
             *, method: str = "cubic") -> dict[str, float]:
  """BD-rate (%) of every other codec's ``rate`` against the ``anchor`` codec's at equal ``D1 + D2``
  (the paper: ``Rt`` against Joint, ``Rr`` against Independent, whose ``Rt = Rr``). Codecs whose
  points cannot be fitted (too few, no overlap) get NaN."""
  if anchor not in curves_by_codec:
    raise ValueError(f"anchor codec {anchor!r} is not among {sorted(curves_by_codec)}")
  a = curves_by_codec[anchor]
  out = {}
  for codec, c in curves_by_codec.items():
    if codec == anchor:
      continue
    try:
      out[codec] = rd_curves.bd_rate(a[rate], -a["distortion"], c[rate], -c["distortion"], method=method)
    except ValueError:
      out[codec] = float("nan")
  return out


def plot(path: str, curves_by_codec: Mapping[str, Mapping[str, np.ndarray]], *, rate_unit: str = "bits per pixel",
         theory: Optional[Mapping[str, np.ndarray]] = None, title: str = "",
         uncompressed: Optional[float] = None) -> str:
  """Two panels, ``Rt`` and ``Rr`` against ``D1 + D2``, one curve per codec; ``theory`` (the
  output of ``gray_wyner_theory.theoretical_curves``) adds the theoretical Joint and Independent
  curves on both (its distortion, a single √MSE, on the same axis as the paper does). With
  ``uncompressed`` (Cityscapes, Fig. 6) the panels show the quality ``mIoU + 1/RMSE`` against the
  rate instead, with that value as the uncompressed line."""
  fig, axes = plotting.subplots(1, 2, figsize=(9, 3.8), sharey=True)
  titles = {"Rt": "transmit rate Rt = R0 + R1 + R2", "Rr": "receive rate Rr = 2R0 + R1 + R2"}
  for ax, key in zip(axes, ("Rt", "Rr")):
    for i, (codec, c) in enumerate(sorted(curves_by_codec.items())):
      if uncompressed is None:
        ax.plot(c["distortion"], c[key], marker="o", ms=4, color=f"C{i}", label=codec)
      else:
        ax.plot(c[key], -c["distortion"], marker="o", ms=4, color=f"C{i}", label=codec)
    if theory is not None:
      ax.plot(theory["distortion"], theory["joint"], "k--", lw=1, label="Joint (theory)")
      ax.plot(theory["distortion"], theory["independent"], "k:", lw=1, label="Independent (theory)")
    if uncompressed is not None:
      ax.axhline(uncompressed, color="k", ls="--", lw=1, label="uncompressed")
      ax.set_xlabel(f"{key} [{rate_unit}]")
    else:
      ax.set_xlabel("D1 + D2")
    ax.set_title(titles[key], fontsize=9)
    ax.grid(alpha=0.3)
  axes[0].set_ylabel("mIoU + 1/RMSE" if uncompressed is not None else f"rate [{rate_unit}]")
  axes[1].legend(fontsize=7)
  if title:
    fig.suptitle(title, fontsize=9)
  return plotting.save(fig, path)
