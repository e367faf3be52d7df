"""Test report of the Gray-Wyner method: estimated rates and real three-stream files (Gray-Wyner paper §3).

1. Estimated rates (−log2 of the entropy models' likelihoods, bits per input pixel) and the task
   metrics on the whole test split: ``R0, R1, R2, Rt = R0 + R1 + R2, Rr = 2R0 + R1 + R2`` (§2.1),
   with ``rate_unit``; the coloured digits also give bits per image (Table 6's unit).
2. Real coding of the first ``loss.code_images`` test images (0: all): the context models are
   exported (`entropy.context.export`) and each image becomes one LJXS file
   (`entropy.streams`) under ``workdir/compressed/``: stream ``common`` (``Y0``, decodable alone)
   and ``private1``, ``private2`` (``Y1``, ``Y2`` given ``Y0``: each records the CRC-32 of the
   common stream it was coded against). Independent has only the two private streams (no common
   channel), Joint only ``common`` (its single ``Y``, which both decoders read).
3. The files are read back, decoded stream by stream (common alone; a private only after
   `streams.check_dependencies` against the common stream at hand) and the task heads run on
   exactly the decoded latents. ``decoded_latents_exact`` says they equal the encoder's; they are
   saved in ``workdir/latents.npz``, and the coder (`files.save_coder`) in
   ``workdir/gray_wyner_coder.msgpack``, which ``launch/codec.py`` reads.

The integer latents are coded exactly as `files` describes.

Per stream ``s``: ``coded_bits/s`` (mean bits per image of the stream's payload: the context
file with its own header and conditioning record), ``latent_bits/s`` (its range-coder words
only), ``estimated_bits/s`` (−log2 likelihood of the float model at the same latents),
``ideal_bits/s`` (−log2 of the integer model's tables at the coded symbols), and
``coded_within_tolerance/s``: ``latent_bits ≤ (1 + rate_tolerance)·estimated + 64`` per image
(at most two 32-bit words end a range-coder stream). ``file_bits`` is the mean LJXS file size.
"""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from lossyless_jax import data as data_lib
from lossyless_jax import parallel, plotting, progress
from lossyless_jax.entropy import container, context, range_coder, streams
from lossyless_jax.losses import gray_wyner as gw_loss
from lossyless_jax.methods.gray_wyner import method as gw_method
from lossyless_jax.methods.gray_wyner import model as gw_model
from lossyless_jax.methods.gray_wyner import files as gw_files
from lossyless_jax.methods.gray_wyner.files import EPS, LATENT_OF, STREAM_OF, _common_key, decode_file, encode_image

TEST_SPLIT = "test"
REPORT_SPLIT = {"cityscapes": "validation"}  # Cityscapes' test labels are not public (§4.3: validation)
INPUT_KEYS = ("x", "image")
TARGET_KEYS = ("z1", "z2", "label", "colour", "disparity", "disparity_mask")


def export_states(config, params) -> dict:
  """Entropy-model name (``h0``, ``h1``, ``h2``) -> coding state (`entropy.context.export`)."""
  host = parallel.to_host(params)
  models = gw_model.entropy_models(config.model.codec, int(config.model.latent_channels))
  return {name: context.export(m, host[name]) for name, m in models.items()}


def _overhead_bits(payload: bytes) -> int:
  header = container.read_header(payload)
  return 8 * (header.header_length + header.payload_lengths[0] + 4)


def _ideal_bits(state, y, cond) -> float:
  sym = context.symbols(state, y + EPS, cond)
  return float(range_coder.table_bits(sym["symbols"], sym["indices"], state["gaussian"]))


def _batches(arrays: dict, size: int):
  n = len(next(iter(arrays.values())))
  for s in range(0, n, size):
    yield {k: v[s:s + size] for k, v in arrays.items()}


def split_arrays(config, split: str) -> dict:
  """The inputs and targets of a split, as NumPy arrays (in-memory sources)."""
  arrays = data_lib.load_arrays(config.data, split)
  return {k: np.asarray(v) for k, v in arrays.items() if k in INPUT_KEYS + TARGET_KEYS}


def split_batches(config, split: str):
  """The split's images in order, as unpadded batches of ``config.data.eval_batch_size``: from the
  arrays of an in-memory source, streamed from disk for Cityscapes."""
  if gw_method.source(config)[0] != "cityscapes":
    yield from _batches(split_arrays(config, split), int(config.data.eval_batch_size))
    return
  for batch in data_lib.build(config.data, split):
    real = np.asarray(batch["mask"]) > 0
    if real.any():
      yield {k: np.asarray(v)[real] for k, v in batch.items() if k in INPUT_KEYS + TARGET_KEYS}


def first_images(batches, num: int | None):
  """The first ``num`` images of ``batches`` (all if None)."""
  seen = 0
  for batch in batches:
    if num is not None and seen >= num:
      return
    n = len(next(iter(batch.values())))
    take = n if num is None else min(n, num - seen)
    yield {k: v[:take] for k, v in batch.items()}
    seen += take


def encode_latents(config, params, batches) -> dict:
  """The integer latents of the images of ``batches`` (no task network runs)."""
  fn = gw_method.latents_fn(config)
  latents = {}
  for batch in batches:
    out = fn(params, {k: jnp.asarray(v) for k, v in batch.items() if k in INPUT_KEYS})
    for k, v in out.items():
      if k.startswith("latent/"):
        latents.setdefault(k[7:], []).append(np.asarray(v))
  return {k: np.concatenate(v) for k, v in latents.items()}


def estimate(config, params, model_state, batches, keep: int | None = None) -> tuple[dict, dict, dict, dict]:
  """Split means (`method.summarize`) over all images of ``batches``; and for the first ``keep``
  (all if None): per-image estimated bits per latent, integer latents and the targets."""
  fn = gw_method.per_example_fn(config)
  sums, count, bits, latents, targets = {}, 0, {}, {}, {}
  num_pixels = None
  for batch in batches:
    out = jax.tree_util.tree_map(np.asarray, fn(params, model_state, {k: jnp.asarray(v) for k, v in batch.items()}))
    n = len(next(iter(batch.values())))
    x = gw_method.inputs(config, batch)
    num_pixels = int(x.shape[1] * x.shape[2])
    gw_method.accumulate(sums, out, np.ones(n))
    room = n if keep is None else max(0, min(n, keep - count))
    if room:
      for k, v in out.items():
        if k.startswith("latent/"):
          latents.setdefault(k[7:], []).append(v[:room])
        elif k.startswith("bits/"):
          bits.setdefault(k[5:], []).append(v[:room].astype(np.float64))
      for k in TARGET_KEYS:
        if k in batch:
          targets.setdefault(k, []).append(np.asarray(batch[k])[:room])
    count += n
  summary = gw_method.summarize(config, sums, count, num_pixels)
  summary["num_pixels"] = num_pixels
  cat = lambda d: {k: np.concatenate(v) for k, v in d.items()}
  return summary, cat(bits), cat(latents), cat(targets)


def predict_terms(config, params, model_state, latents: dict, batch: dict) -> dict:
  """Per image ``d1``, ``d2`` and the task metrics of the decoders (and task networks) on ``latents``."""
  mod = gw_method.module(config)
  outputs = mod.apply({"params": params}, latents, method=mod.decode_and_predict)
  d1, d2, extra = gw_method.task_terms(gw_method.source(config)[0], gw_method.task_outputs(config, model_state, outputs),
                                       batch)
  return {"d1": d1, "d2": d2, **extra}


def _predict(config, params, model_state, latents: dict, targets: dict) -> dict:
  """Task metrics of the decoders and task networks on the given (decoded) latents, means over the
  images (Cityscapes: mIoU and macro accuracy from their confusion counts)."""
  run = gw_method.jitted(predict_terms, config)
  sums, n = {}, 0
  size = int(config.data.eval_batch_size)
  total = len(next(iter(latents.values())))
  for s in range(0, total, size):
    lat = {k: jnp.asarray(v[s:s + size]) for k, v in latents.items()}
    batch = {k: jnp.asarray(v[s:s + size]) for k, v in targets.items()}
    out = jax.tree_util.tree_map(np.asarray, run(params, model_state, lat, batch))
    m = len(next(iter(lat.values())))
    gw_method.accumulate(sums, out, np.ones(m))
    n += m
  out = {k: v / n for k, v in sums.items() if k != "confusion"}
  if "confusion" in sums:
    from lossyless_jax.evaluation import segmentation
    out.update(segmentation.scores(sums["confusion"]))
  return out


def code_split(config, states: dict, latents: dict, est_bits: dict, workdir: str, num: int) -> tuple[dict, dict]:
  """Writes ``num`` files under ``workdir/compressed/`` with the exported ``states``, decodes them
  back; returns (report fields, decoded latents)."""
  codec = config.model.codec
  folder = os.path.join(workdir, "compressed")
  os.makedirs(folder, exist_ok=True)
  names = sorted({STREAM_OF[k] for k in gw_loss.CHANNELS[codec]}, key=list(LATENT_OF).index)
  coded = {s: [] for s in names}
  latent_bits = {s: [] for s in names}
  ideal = {s: [] for s in names}
  file_bits, decoded = [], {k: [] for k in latents}
  exact = True
  for i in progress.phase("coding images", range(num), unit="images"):
    lat = {k: np.asarray(v[i], np.float32) for k, v in latents.items()}
    data = encode_image(states, lat)
    path = os.path.join(folder, f"{i:05d}.ljxs")
    with open(path, "wb") as f:
      f.write(data)
    with open(path, "rb") as f:
      back = decode_file(states, f.read(), codec)
    for k in latents:
      exact &= bool(np.array_equal(back[k], lat[k]))
      decoded[k].append(back[k])
    file_bits.append(8 * len(data))
    for s in streams.unpack(data):
      coded[s.name].append(8 * len(s.payload))
      latent_bits[s.name].append(8 * len(s.payload) - _overhead_bits(s.payload))
      key = LATENT_OF[s.name] or _common_key(lat)
      state = states["h0" if s.name == "common" else f"h{s.name[-1]}"]
      ideal[s.name].append(_ideal_bits(state, lat[key], lat.get("y0") if s.depends else None))
  out = {"coded_images": num, "file_bits": float(np.mean(file_bits)), "decoded_latents_exact": exact,
         "streams": names, "compressed_dir": folder}
  tol = float(config.loss.rate_tolerance)
  for s in names:
    key = LATENT_OF[s] or _common_key(latents)
    est = float(np.mean(est_bits[key][:num]))
    lb = float(np.mean(latent_bits[s]))
    out[f"coded_bits/{s}"] = float(np.mean(coded[s]))
    out[f"latent_bits/{s}"] = lb
    out[f"estimated_bits/{s}"] = est
    out[f"ideal_bits/{s}"] = float(np.mean(ideal[s]))
    out[f"coded_over_estimated/{s}"] = lb / est if est > 0 else float("nan")
    out[f"coded_within_tolerance/{s}"] = bool(lb <= (1 + tol) * est + 64)
  return out, {k: np.stack(v) for k, v in decoded.items()}


def _plot(path: str, report: dict, title: str) -> None:
  fig, ax = plotting.subplots(figsize=(4.5, 3.4))
  keys = ("R0", "R1", "R2", "Rt", "Rr")
  vals = [report[k] for k in keys]
  bars = ax.bar(keys, vals, color=["C0", "C1", "C2", "C3", "C4"])
  ax.bar_label(bars, fmt="%.3f", fontsize=7)
  ax.set_xticks(range(len(keys)), ["R0\ncommon", "R1\nprivate 1", "R2\nprivate 2", "Rt\nR0+R1+R2", "Rr\n2R0+R1+R2"],
                fontsize=7)
  ax.set_ylabel(f"{report['rate_unit']} (estimated)")
  ax.set_title(title, fontsize=8)
  plotting.save(fig, path)


def run(params, model_state, ctx) -> dict:
  config = ctx.config
  task = gw_method.source(config)[0]
  split = REPORT_SPLIT.get(task, TEST_SPLIT)
  keep = int(config.loss.code_images) or None
  summary, est_bits, latents, targets = estimate(config, params, model_state, split_batches(config, split), keep)
  rep = {"codec": config.model.codec, "task": task, "eta": float(config.loss.eta), "beta": float(config.loss.beta),
         "split": split}
  for k in ("R0", "R1", "R2", "Rt", "Rr"):
    rep[k] = summary.pop(f"{k}_bpp")
  rep["rate_unit"] = "bits per input pixel"
  num_pixels = summary["num_pixels"]
  if task == "coloured_digits":
    for k in ("R0", "R1", "R2", "Rt", "Rr"):
      rep[f"{k}_bits_per_image"] = rep[k] * num_pixels
  rep["common_fraction"] = rep["R0"] / rep["Rt"] if rep["Rt"] > 0 else 0.0
  rep.update(summary)
  code = len(next(iter(latents.values())))
  host = parallel.to_host(params)
  states = export_states(config, host)
  coded, decoded = code_split(config, states, latents, est_bits, ctx.workdir, code)
  rep.update(coded)
  if jax.process_index() == 0:  # what `launch/codec.py` needs, and the latents the evaluation used
    gw_files.save_coder(ctx.workdir, config.model.codec, states, host, config)
    np.savez(os.path.join(ctx.workdir, "latents.npz"), **decoded)
  dec = _predict(config, params, model_state, decoded, targets)
  est_same = _predict(config, params, model_state, latents, targets)
  for k, v in dec.items():
    rep[f"decoded_{k}"] = v
    rep[f"estimated_path_{k}"] = est_same[k]
  if jax.process_index() == 0:
    with open(os.path.join(ctx.workdir, "gray_wyner_report.json"), "w") as f:
      json.dump(rep, f, indent=1)
    _plot(os.path.join(ctx.workdir, "rates.png"), rep,
          f"{config.model.codec}, η={config.loss.eta:g}, β={config.loss.beta:g}: {_metric(rep)}")
  return rep


def _metric(rep: dict) -> str:
  return {"coloured_digits": lambda: f"acc digit {rep['acc_digit']:.3f}, colour {rep['acc_colour']:.3f}",
          "cityscapes": lambda: f"mIoU {rep['miou']:.3f}, RMSE {rep['rmse_px']:.2f} px",
          "synthetic": lambda: f"RMSE {rep['rmse_1']:.3f} + {rep['rmse_2']:.3f}"}[rep["task"]]()


def summary(rep: dict, workdir: str) -> str:
  """The printed table: the estimated rates, each stream's file and the task metrics."""
  per_image = "R0_bits_per_image" in rep
  lines = [f"Gray-Wyner {rep['codec']} on {rep['task']} ({rep['split']} split), η = {rep['eta']:g}, β = {rep['beta']:g}",
           f"{'rate':<6}{'bits/pixel':>11}" + (f"{'bits/image':>12}" if per_image else "")
           + "  (estimated −log2 likelihood of the test latents)"]
  for k, what in (("R0", "common channel"), ("R1", "private channel 1"), ("R2", "private channel 2"),
                  ("Rt", "R0 + R1 + R2"), ("Rr", "2 R0 + R1 + R2")):
    lines.append(f"{k:<6}{rep[k]:>11.4f}" + (f"{rep[k + '_bits_per_image']:>12.1f}" if per_image else "") + f"  {what}")
  lines.append(f"{'stream':<10}{'file bits':>10}{'range-coded':>12}{'estimated':>10}{'ideal':>8}  within tolerance"
               f"  (bits per image, mean over {rep['coded_images']} files)")
  for s in rep["streams"]:
    lines.append(f"{s:<10}{rep[f'coded_bits/{s}']:>10.1f}{rep[f'latent_bits/{s}']:>12.1f}"
                 f"{rep[f'estimated_bits/{s}']:>10.1f}{rep[f'ideal_bits/{s}']:>8.1f}  {rep[f'coded_within_tolerance/{s}']}")
  lines.append(f"{_metric(rep)}; R0/Rt = {rep['common_fraction']:.3f}; decoded latents exact: {rep['decoded_latents_exact']}")
  lines.append("legend: R0 is coded in the stream 'common' (decodable alone), R1 / R2 in 'private1' / 'private2' "
               "(each needs 'common'); file = the stream in its file (context-file header included), range-coded = "
               "its coder words, ideal = −log2 of the integer tables; files in compressed/, plot rates.png")
  return "\n".join(lines)
