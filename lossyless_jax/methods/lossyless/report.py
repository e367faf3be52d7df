"""The report of an invariant compressor (paper §5): compress, decode, probe, compare.

1. Every split of ``data`` (train, validation, test) is turned into fixed evaluation views
   (``evaluate.views``), encoded, coded into a real bitstream ``workdir/compressed/<split>.ljxb``
   and decoded; the decoded ẑ are saved in ``workdir/representations.npz``. Coded bits per image
   are reported with the file header and without it, next to the estimated −log2 q(ẑ).
2. Probes on ẑ: a linear and an MLP probe, each keeping its epoch of best validation accuracy;
   ``probe_accuracy`` is the test accuracy of the probe with the better validation accuracy.
   For VIC/VC also a CNN on the reconstructions ``sigmoid(decoder(ẑ))``.
3. ``uncompressed_accuracy``: the CNN on the raw augmented images (the linear probe on raw
   features for vector sources). Every CNN trains until its validation accuracy has not improved
   for ``eval.cnn_patience`` epochs and keeps its best validation epoch.
4. Classical codecs (``eval.classical``): the same views coded by PNG/JPEG/WebP, the CNN trained
   on the decoded train views -> ``workdir/classical.json``. ``classical_reference`` is the
   cheapest setting whose **validation** accuracy is within 2 points of the probe's validation
   accuracy; ``classical_over_coded_ratio`` its bits over the compressor's coded bits.

``report.json`` holds only results, so a rerun on the same machine reproduces it byte for byte;
wall times go to ``timings.json``.
"""
from __future__ import annotations

import hashlib
import json
import os
import time

import jax
import numpy as np

from lossyless_jax import parallel, progress
from lossyless_jax.logging import write_json
from lossyless_jax.evaluation import classical, probes
from lossyless_jax.methods.lossyless import banana_report, defaults, plots
from lossyless_jax.methods.lossyless import evaluate as E
from lossyless_jax.methods.lossyless import model as M

WITHIN = 0.02  # "within 2 points" of the probe accuracy (the paper's Table 1 criterion)


def run(params, model_state, ctx) -> dict:
  """The report: see the module docstring."""
  config, workdir = ctx.config, ctx.workdir
  ev = defaults.eval_fields(config)
  kind = defaults.kind_of(config)
  timings = {}
  t0 = time.time()
  params = E.finalize_rate(parallel.to_host(params))
  model_state = parallel.to_host(model_state)
  is_main = jax.process_index() == 0
  coded = M.has_bottleneck(config.model)
  state = E.rate_state(params) if coded else None
  if is_main:
    M.save_compressor(workdir, params, model_state, state["tables"] if coded else None)
  os.makedirs(os.path.join(workdir, "compressed"), exist_ok=True)
  out = {"method": config.method}
  reps, inputs, labels = {}, {}, {}
  for split in progress.phase("compressing splits" if coded else "encoding splits", ev["splits"], unit="splits",
                              label=str):
    x, y = E.views(config, split)
    z, bits = E.featurize(params, model_state, config, x)
    out[f"{split}_num_images"] = len(x)
    inputs[split], labels[split] = x, y
    if not coded:  # no bottleneck (staggered step 1): the probes see z itself
      reps[split] = z
      continue
    data, reps[split] = E.compress_split(state, z)
    if is_main:
      with open(os.path.join(workdir, "compressed", f"{split}.ljxb"), "wb") as f:
        f.write(data)
    hdr = E.header_bytes(data)
    out[f"{split}_bits_per_image_estimated"] = float(bits.mean())
    out[f"{split}_bits_per_image_coded"] = 8.0 * len(data) / len(x)
    out[f"{split}_bits_per_image_coded_payload"] = 8.0 * (len(data) - hdr) / len(x)
    out[f"{split}_header_bytes"] = hdr
  if coded:
    out["bits_per_image_estimated"] = out["test_bits_per_image_estimated"]
    out["bits_per_image_coded"] = out["test_bits_per_image_coded"]
    out["bits_per_image_coded_payload"] = out["test_bits_per_image_coded_payload"]
    out["coded_over_estimated"] = out["bits_per_image_coded"] / max(out["bits_per_image_estimated"], 1e-12)
    # |coded − header − estimated| ≤ 2 % of estimated, on every coded split
    out["coded_within_2pct_plus_header"] = bool(all(
        abs(out[f"{s}_bits_per_image_coded_payload"] - out[f"{s}_bits_per_image_estimated"])
        <= 0.02 * out[f"{s}_bits_per_image_estimated"] for s in reps))
  if is_main:
    np.savez(os.path.join(workdir, "representations.npz"),
             **{f"{s}_z_hat": reps[s] for s in reps}, **{f"{s}_label": labels[s] for s in labels})
  timings["compress_s"] = time.time() - t0
  if M._get(config.model, "banana_invariance"):  # Banana: invariant distortion and cells, no classifier
    out.update(banana_report.run(params, model_state, config, workdir, state, inputs, reps,
                                 out.get("bits_per_image_estimated", float("nan"))))
    write_json(os.path.join(workdir, "timings.json"), timings)
    return out

  t1 = time.time()
  rows = _probes_and_baselines(params, model_state, config, workdir, ev, kind, out, reps, inputs, labels)
  timings["probes_s"] = time.time() - t1
  if is_main:
    _plots(params, model_state, config, workdir, kind, out, rows, inputs, reps)
  write_json(os.path.join(workdir, "timings.json"), timings)
  return out  # the table: `summary`, printed by the loop


def _plots(params, model_state, config, workdir, kind, out, rows, inputs, reps, num_shown=12):
  """``rate_accuracy.png`` (image sources with classical rows) and ``reconstructions.png`` (VIC / VC
  on images): see ``plots``."""
  if rows:
    plots.rate_accuracy(os.path.join(workdir, plots.RATE_ACCURACY), out, rows, shows_ratio(out))
  if _decodes_images(config, kind, inputs):
    shown = inputs["test"][:num_shown]
    recon = E.reconstruct(params, model_state, config, reps["test"][:num_shown], shown.shape[1:])
    plots.reconstructions(os.path.join(workdir, plots.RECONSTRUCTIONS), shown, recon,
                          out.get("bits_per_image_coded"))


def _decodes_images(config, kind, inputs) -> bool:
  """Whether the compressor reconstructs images from its coded ẑ (VIC / VC with a bottleneck)."""
  return inputs["test"].ndim == 4 and kind in ("vic", "vc") and M.has_bottleneck(config.model)


def _probe_kwargs(ev, labels, reps, key):
  val = (reps["validation"], labels["validation"]) if "validation" in reps else None
  return dict(key=key, x_train=reps["train"], y_train=labels["train"], x_test=reps["test"], y_test=labels["test"],
              num_classes=int(max(labels["train"].max(), labels["test"].max())) + 1, validation=val,
              patience=int(ev["probe_patience"]))


def _cnn(key, images, labels, ev, num_classes, desc="CNN") -> probes.ProbeResult:
  """The CNN of every image comparison, trained with validation early stopping (``desc``: its progress)."""
  val = (images["validation"], labels["validation"]) if "validation" in images else None
  return probes.train_cnn_classifier(
      key, images["train"], labels["train"], images["test"], labels["test"], num_classes=num_classes,
      channels=tuple(ev["cnn_channels"]), hidden=int(ev["cnn_hidden"]), epochs=int(ev["cnn_epochs"]),
      batch_size=128, validation=val, patience=int(ev["cnn_patience"]), desc=desc)


def _probes_and_baselines(params, model_state, config, workdir, ev, kind, out, reps, inputs, labels):
  key = jax.random.PRNGKey(int(ev["seed"]) + 17)
  kw = _probe_kwargs(ev, labels, reps, key)
  num_classes = kw["num_classes"]
  out["num_classes"] = num_classes
  found = {"linear": probes.train_linear_probe(**kw, epochs=int(ev["linear_epochs"]))}
  if int(ev["mlp_epochs"]) > 0:
    found["mlp"] = probes.train_mlp_probe(**kw, hidden=tuple(ev["mlp_hidden"]), dropout=float(ev["mlp_dropout"]),
                                          epochs=int(ev["mlp_epochs"]))
  for name, res in found.items():
    out[f"{name}_probe_accuracy"] = res.test_accuracy
    out[f"{name}_probe_validation_accuracy"] = res.validation_accuracy
  # model selection on validation (test when the data has no validation split)
  select = "validation_accuracy" if "validation" in reps else "test_accuracy"
  best = max(found, key=lambda n: (getattr(found[n], select), n == "linear"))
  out["probe"] = best
  out["probe_accuracy"] = found[best].test_accuracy
  out["probe_validation_accuracy"] = found[best].validation_accuracy
  images = inputs["train"].ndim == 4
  if ev["cnn_on_reconstructions"] and _decodes_images(config, kind, inputs):
    shape = inputs["train"].shape[1:]
    recon = {s: E.reconstruct(params, model_state, config, reps[s], shape)
             for s in progress.phase("decoding reconstructions", reps, unit="splits", label=str)}
    recon_cnn = _cnn(key, recon, labels, ev, num_classes, "CNN on reconstructions")
    out["reconstruction_cnn_accuracy"] = recon_cnn.test_accuracy
  if not images:
    if ev["uncompressed"]:
      raw = {s: E.featurize(params, model_state, config, inputs[s])[0] for s in inputs}
      out["uncompressed_accuracy"] = probes.train_linear_probe(
          **_probe_kwargs(ev, labels, raw, key), epochs=int(ev["linear_epochs"])).test_accuracy
    return []
  base = _classical_images(config, ev, inputs, labels)
  cache = _Cache(config, ev, workdir)
  if ev["uncompressed"]:
    res = cache.get("uncompressed", lambda: _result_row(_cnn(key, base["images"], base["labels"], ev, num_classes,
                                                             "CNN on uncompressed images")))
    out["uncompressed_accuracy"] = res["accuracy"]
    out["uncompressed_validation_accuracy"] = res["validation_accuracy"]
    out["uncompressed_train_images"] = len(base["labels"]["train"])
  settings = progress.phase("classical codecs", ev["classical"], unit="settings", label=str)
  rows = [cache.get(item, lambda item=item: _classical_row(item, key, base, ev, num_classes)) for item in settings]
  if rows:
    write_json(os.path.join(workdir, "classical.json"), rows)
    out.update(classical_reference(rows, out))
  return rows


def _classical_images(config, ev, inputs, labels) -> dict:
  """The images the CNNs of the image comparisons see: the report's views, with
  ``eval.classical_copies`` augmented copies of the train split when it is set."""
  copies = int(ev["classical_copies"])
  images, ys = dict(inputs), dict(labels)
  if copies and copies != E.num_copies(config, "train"):
    images["train"], ys["train"] = E.views(config, "train", copies=copies)
  return {"images": images, "labels": ys}


def _result_row(res: probes.ProbeResult) -> dict:
  return {"accuracy": res.test_accuracy, "validation_accuracy": res.validation_accuracy,
          "best_epoch": res.best_epoch, "epochs_run": res.epochs_run}


def _classical_row(item: str, key, base: dict, ev, num_classes) -> dict:
  codec, q = item.split(":")
  coded = {s: classical.codec_round_trip(x, codec, int(q)) for s, x in base["images"].items()}
  res = _cnn(key, {s: c["decoded"] for s, c in coded.items()}, base["labels"], ev, num_classes)
  return {"codec": codec, "quality": int(q), "bits_per_image": coded["test"]["bits_per_image"],
          "payload_bits_per_image": coded["test"]["payload_bits_per_image"], **_result_row(res)}


def classical_reference(rows: list[dict], out: dict) -> dict:
  """The cheapest classical setting within 2 points of the probe, selected on validation
  accuracies (test accuracies when there is no validation split); when no setting is that
  close, the most accurate one (the ratio is then a lower bound)."""
  key = "validation_accuracy" if np.isfinite(out.get("probe_validation_accuracy", np.nan)) else "accuracy"
  target = out["probe_validation_accuracy"] if key == "validation_accuracy" else out["probe_accuracy"]
  ok = [r for r in rows if r[key] >= target - WITHIN]
  ref = min(ok, key=lambda r: r["bits_per_image"]) if ok else max(rows, key=lambda r: (r[key], -r["bits_per_image"]))
  result = {"classical_within_2pts": bool(ok), "classical_reference": f"{ref['codec']}:{ref['quality']}",
            "classical_reference_bits": ref["bits_per_image"],
            "classical_reference_payload_bits": ref["payload_bits_per_image"],
            "classical_reference_accuracy": ref["accuracy"],
            "classical_reference_test_within_2pts": bool(ref["accuracy"] >= out["probe_accuracy"] - WITHIN)}
  if "bits_per_image_coded" in out:
    result["classical_over_coded_ratio"] = ref["bits_per_image"] / out["bits_per_image_coded"]
    result["classical_payload_over_coded_payload_ratio"] = (ref["payload_bits_per_image"]
                                                           / out["bits_per_image_coded_payload"])
  return result


class _Cache:
  """Results that depend only on the data, the evaluation views and the CNN settings (the
  uncompressed and classical rows), as JSON files in ``eval.cache_dir`` (default
  ``<workdir>/cache``) keyed by a hash of those dependencies."""

  def __init__(self, config, ev, workdir):
    deps = {"data": config.data.to_dict(), "augment": str(config.model.get("augment")),
            "augment_order": config.model.get("augment_order", 1),
            "p_augment": config.model.get("p_augment", 1.0),
            "ev": {k: ev[k] for k in ("seed", "train_copies", "validation_copies", "test_copies", "classical_copies",
                                      "cnn_channels", "cnn_hidden", "cnn_epochs", "cnn_patience")}}
    self.prefix = hashlib.sha256(json.dumps(deps, sort_keys=True, default=str).encode()).hexdigest()[:16]
    self.dir = ev["cache_dir"] or os.path.join(workdir, "cache")

  def get(self, name, fn):
    path = os.path.join(self.dir, f"{self.prefix}_{name.replace(':', '_')}.json")
    if os.path.exists(path):
      with open(path) as f:
        return json.load(f)
    value = fn()
    if jax.process_index() == 0:
      os.makedirs(self.dir, exist_ok=True)
      write_json(path, value)
    return value


def shows_ratio(out: dict) -> bool:
  """Whether the bit ratio means something: the probe's test accuracy is above twice chance."""
  return "classical_over_coded_ratio" in out and out["probe_accuracy"] > 2.0 / out.get("num_classes", 1e9)


def table(out: dict, rows: list[dict]) -> str:
  """The printed summary: the compressor, the uncompressed CNN, the classical rows, the ratio and
  a legend; bits per image and accuracies in %."""
  nan = float("nan")
  pct = lambda v: f"{100 * v:>11.1f}" if v == v else f"{'-':>11}"
  num = lambda v, w, d: f"{v:>{w}.{d}f}" if v == v else f"{'-':>{w}}"
  coded = "bits_per_image_coded" in out
  lines = [f"{'row':<14}{'est. bits':>10}{'file bits':>11}{'payload':>9}{'val acc %':>11}{'test acc %':>11}  "
           "(bits per image; accuracy in %)",
           f"{out['method']:<14}{num(out.get('bits_per_image_estimated', nan), 10, 2)}"
           f"{num(out.get('bits_per_image_coded', nan), 11, 2)}{num(out.get('bits_per_image_coded_payload', nan), 9, 1)}"
           f"{pct(out.get('probe_validation_accuracy', nan))}{pct(out.get('probe_accuracy', nan))}  "
           f"{out.get('probe', 'linear')} probe on {'decoded ẑ' if coded else 'z (no bottleneck)'} (test: linear "
           f"{100 * out.get('linear_probe_accuracy', nan):.1f}%"
           + (f", mlp {100 * out['mlp_probe_accuracy']:.1f}%" if "mlp_probe_accuracy" in out else "") + ")"]
  if "reconstruction_cnn_accuracy" in out:
    lines.append(f"{'  (x̂ CNN)':<14}{'':>41}{pct(out['reconstruction_cnn_accuracy'])}  CNN on the reconstructions")
  if "uncompressed_accuracy" in out:
    lines.append(f"{'uncompressed':<14}{'':>30}{pct(out.get('uncompressed_validation_accuracy', nan))}"
                 f"{pct(out['uncompressed_accuracy'])}  CNN on the raw augmented images")
  for r in rows:
    name = f"{r['codec']}:{r['quality']}"
    mark = "  <- ratio" if name == out.get("classical_reference") else ""
    lines.append(f"{name:<14}{'':>10}{num(r['bits_per_image'], 11, 1)}{num(r.get('payload_bits_per_image', nan), 9, 1)}"
                 f"{pct(r.get('validation_accuracy', nan))}{pct(r['accuracy'])}{mark}")
  if "classical_over_coded_ratio" in out and not shows_ratio(out):
    lines.append(f"no bit ratio: the probe's test accuracy {100 * out['probe_accuracy']:.1f}% is near chance "
                 f"(at most twice 1/{out['num_classes']}), where any codec is 'within 2 points'")
  elif shows_ratio(out):
    which = ("the cheapest classical setting within 2 points on validation" if out["classical_within_2pts"] else
             "the most accurate classical setting (none is within 2 points on validation)")
    lines.append(f"{out['classical_over_coded_ratio']:.1f}x fewer coded bits than {out['classical_reference']}, {which} "
                 f"({out['classical_payload_over_coded_payload_ratio']:.1f}x without headers)")
  legend = (f"legend: {out['method']} = this compressor's files in bits per image (est. = −log2 q(ẑ); file = with "
            "headers, payload = without), probed on what they decode")
  if rows or "uncompressed_accuracy" in out:
    legend += ("; uncompressed = a CNN on the raw images; codec:q = a CNN on the images through PNG (q = zlib level, "
               "lossless), JPEG or WebP (q = Pillow quality)")
  lines.append(legend + "; each model kept at its best validation epoch")
  return "\n".join(lines)


def summary(report: dict, workdir: str) -> str:
  """`table` of a finished run, from ``report.json`` and ``classical.json`` (Banana: its line)."""
  if "ring_score" in report:
    return (f"banana {report['method']}: {report['distortion']:.4g} invariant MSE ({report['distortion_bits']:.3f} "
            f"bits), {report.get('bits_per_image_estimated', float('nan')):.3f} estimated bits, ring score "
            f"{report['ring_score']:.3f} over {report['num_cells']} cells (cells.png)")
  path = os.path.join(workdir, "classical.json")
  rows = []
  if "classical_reference" in report and os.path.exists(path):
    with open(path) as f:
      rows = json.load(f)
  shown = [n for n in (plots.RATE_ACCURACY, plots.RECONSTRUCTIONS) if os.path.exists(os.path.join(workdir, n))]
  return table(report, rows) + (f"\nplots: {', '.join(shown)}" if shown else "")
