"""The invariant compressor's plots (paper §5, Fig. 3 and Table 1): rate against accuracy, and
what the decoder makes of the coded representations.

* ``rate_accuracy.png``: test accuracy against bits per image (log scale) for every classical
  setting (one line per codec, labelled with its quality), the compressor's coded point, the
  uncompressed CNN's accuracy and the setting the printed ratio uses.
* ``reconstructions.png`` (VIC / VC): a row of test views above a row of ``sigmoid(decoder(ẑ))``
  decoded from the file. An invariant compressor keeps what the task needs, so the
  reconstructions need not look like the inputs (paper Fig. 4).
"""
from __future__ import annotations

import numpy as np

from lossyless_jax import plotting

RATE_ACCURACY = "rate_accuracy.png"
RECONSTRUCTIONS = "reconstructions.png"


def rate_accuracy(path: str, out: dict, rows: list[dict], show_ratio: bool = True) -> str:
  """Writes ``path``: the classical rows by codec and the compressor's point (see the module);
  ``show_ratio``: the title gives the bit ratio."""
  fig, ax = plotting.subplots(figsize=(6.4, 5))
  for i, codec in enumerate(sorted({r["codec"] for r in rows})):
    mine = sorted((r for r in rows if r["codec"] == codec), key=lambda r: r["bits_per_image"])
    bits = [r["bits_per_image"] for r in mine]
    acc = [100 * r["accuracy"] for r in mine]
    ax.plot(bits, acc, "o-", ms=3, lw=1, color=f"C{i + 1}", label=f"{codec} (CNN on decoded images)")
    for r, b, a in zip(mine, bits, acc):
      ax.annotate(str(r["quality"]), (b, a), fontsize=6, xytext=(2, 2), textcoords="offset points")
  ref = out.get("classical_reference")
  for r in rows:
    if f"{r['codec']}:{r['quality']}" == ref:
      ax.plot(r["bits_per_image"], 100 * r["accuracy"], "o", ms=10, mfc="none", color="k",
              label=f"{ref}: the ratio's reference")
  if "bits_per_image_coded" in out:
    ax.plot(out["bits_per_image_coded"], 100 * out["probe_accuracy"], "*", ms=14, color="C0",
            label=f"{out['method']}: {out.get('probe', 'linear')} probe on decoded ẑ")
  if "uncompressed_accuracy" in out:
    ax.axhline(100 * out["uncompressed_accuracy"], ls="--", color="gray", lw=0.8, label="uncompressed images (CNN)")
  ax.set_xscale("log")
  ax.set_xlabel("bits per image (file, headers included; log scale)")
  ax.set_ylabel("test accuracy (%)")
  ratio = out.get("classical_over_coded_ratio") if show_ratio else None
  ax.set_title(f"{out['method']}: rate–accuracy on the test views"
               + (f" ({ratio:.1f}x fewer bits than {ref})" if ratio else ""), fontsize=9)
  ax.grid(True, which="both", lw=0.3, alpha=0.5)
  ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
  return plotting.save(fig, path, dpi=120)


def reconstructions(path: str, images: np.ndarray, recon: np.ndarray, bits: float | None = None) -> str:
  """Writes ``path``: ``images`` (N, H, W, C in [0, 1]) above their reconstructions."""
  n = len(images)
  fig, axes = plotting.subplots(2, n, figsize=(0.8 * n, 2), squeeze=False)
  for row, (batch, name) in enumerate(((images, "input view"), (recon, "decoded"))):
    for i in range(n):
      img = np.clip(batch[i], 0.0, 1.0)
      axes[row, i].imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0.0, vmax=1.0)
      axes[row, i].set_xticks([]), axes[row, i].set_yticks([])
    axes[row, 0].set_ylabel(name, fontsize=7)
  fig.suptitle("test views (top) and sigmoid(decoder(ẑ)) from the file (bottom)"
               + (f", {bits:.1f} bits per image" if bits else ""), fontsize=8)
  return plotting.save(fig, path, dpi=120)
