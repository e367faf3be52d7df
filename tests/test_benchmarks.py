"""Every benchmark's `--smoke` mode runs and prints its rows (the project rule: benchmarks measure,
the suite only keeps them from rotting). `fuzz_rcc.py` and `malformed_invocations.py` have their
own tests."""
import json
import math


def _rows(stdout):
  rows = {}
  for line in stdout.splitlines():
    if line.startswith("{"):
      row = json.loads(line)
      rows[row["name"]] = row
  return rows


def _positive(row, *keys):
  for k in keys:
    assert isinstance(row[k], (int, float)) and math.isfinite(row[k]) and row[k] > 0, (row["name"], k, row[k])


def test_coding_smoke(python):
  rows = _rows(python(["benchmarks/coding.py", "--smoke"], timeout=180).stdout)
  assert "setup" in rows
  for name in ("factorized/tables", "factorized/file", "gaussian/tables[64]", "gaussian/tables[255]",
               "hyperprior/file", "categorical/zipf"):
    assert name in rows, (name, sorted(rows))
    r = rows[name]
    _positive(r, "symbols", "encode_symbols_per_s", "decode_symbols_per_s", "bits", "ideal_bits")
    # the coder's size is within a few percent of the model's ideal even on 16k symbols (headers included)
    assert math.isfinite(r["overhead"]) and -0.01 < r["overhead"] < 0.05, (name, r["overhead"])
    if "ideal_table_bits" in r:
      _positive(r, "ideal_table_bits")


def test_nerd_eval_memory_smoke(python):
  rows = _rows(python(["benchmarks/nerd_eval_memory.py", "--smoke"], timeout=120).stdout)
  r = rows["nerd_eval_digits"]
  _positive(r, "points", "M", "chunk_size", "seconds", "peak_rss_gib")
  assert r["points"] == 1797 and r["M"] % r["chunk_size"]  # all digits; a masked last chunk
  rates = r["R_bits"]
  assert len(rates) == 2 and all(0 < x <= math.log2(r["M"]) for x in rates), rates
  assert rates[0] > rates[1]  # the steeper slope (β̃ = -1) buys more rate than β̃ = -0.1


def test_lossyless_digits_smoke(python):
  out = python(["benchmarks/lossyless_digits.py", "--smoke"], timeout=120).stdout
  table, _, pairs = out.partition("\npairs with")
  lines = table.strip().splitlines()
  assert lines[0].split()[:8] == ["method", "λ", "z", "steps", "est", "coded", "probe", "uncomp"]
  rows = {}
  for line in lines[1:]:
    f = line.split()
    rows[f[-1].rsplit("/", 1)[-1]] = f
    assert [float(x) > 0 and math.isfinite(float(x)) for x in f[1:8]] == [True] * 7, line
  # every finished workdir has a row, the one without report.json none
  assert sorted(rows) == ["digits_bince_l20", "digits_supervised_l0.1", "digits_vc_l0.01", "digits_vic_l0.1",
                          "digits_vic_l1"], sorted(rows)
  assert rows["digits_supervised_l0.1"][0] == "vic-sup"
  assert "png:9*" in rows["digits_supervised_l0.1"]  # no classical setting within 2 points
  assert rows["digits_bince_l20"][-3] == "-"  # no classical rows
  pair = [line for line in pairs.splitlines() if " vs vc " in line]
  assert len(pair) == 1 and "vic λ=0.1" in pair[0] and float(pair[0].rsplit(" ", 1)[-1].rstrip("×")) > 1, pairs


def test_context_coding_smoke(python):
  out = python(["benchmarks/context_coding.py", "--smoke"], timeout=300).stdout
  rows = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
  decodes = [r for r in rows if r["name"] == "context/decode"]
  assert {r["schedule"] for r in decodes} == {"wavefront", "raster"}
  for r in decodes:
    _positive(r, "seconds", "steps", "symbols", "coded_bits", "ideal_bits")
  wave = next(r for r in decodes if r["schedule"] == "wavefront")
  raster = next(r for r in decodes if r["schedule"] == "raster" and r["engine"] == wave["engine"])
  assert raster["evaluations"] == wave["symbols"] // wave["shape"][-1] > wave["evaluations"]  # one per position
  assert any(r["name"] == "context/ratio" for r in rows)


def test_cityscapes_loader_smoke(python):
  rows = _rows(python(["benchmarks/cityscapes_loader.py", "--smoke"], timeout=180).stdout)
  assert rows["cityscapes_loader/setup"]["images"] == 4
  for workers in (0, 1):
    r = rows[f"cityscapes_loader/train/w{workers}"]
    assert r["workers"] == workers and (r["height"], r["width"]) == (64, 128) and r["samples"] == 8
    _positive(r, "samples_per_s", "samples_per_s_per_worker", "seconds", "startup_s")


def test_gray_wyner_cityscapes_step_smoke(python):
  rows = _rows(python(["benchmarks/gray_wyner_cityscapes_step.py", "--smoke"], timeout=300).stdout)
  r = rows["gray_wyner_cityscapes_step/shared"]
  _positive(r, "first_step_s", "step_s", "peak_memory_gib", "loss")
  assert (r["height"], r["width"], r["batch"], r["tiny_task_nets"]) == (64, 128, 2, True)


def test_train_step_smoke(python):
  """The bare step, the loop and the input pipeline of two default configs, each in one worker."""
  rows = _rows(python(["benchmarks/train_step.py", "--smoke"], timeout=400).stdout)
  for case in ("banana_vic", "nerd_one_slope"):
    step, loop, pipe = rows[f"train_step/{case}"], rows[f"train_loop/{case}"], rows[f"train_pipeline/{case}"]
    _positive(step, "steps_per_s", "examples_per_s", "compile_s", "peak_rss_mib")
    _positive(loop, "loop_steps_per_s", "loop_over_step", "peak_rss_mib")
    _positive(pipe, "pipeline_batches_per_s", "pipeline_over_step")
    assert step["commit"] and step["jax"] and step["device"] and step["config"].startswith("configs/")


def test_train_step_profile_smoke(python):
  """Where the step's time goes: every traced op is classified, and a dense-layer model's trace
  holds matmuls and elementwise ops."""
  rows = _rows(python(["benchmarks/train_step.py", "--smoke", "--case", "banana_vic", "--measure", "profile"],
                      timeout=300).stdout)
  r = rows["train_profile/banana_vic"]
  _positive(r, "op_ms_per_step", "ops_per_step", "traced_wall_ms_per_step")
  kinds = r["ms_per_step"]
  assert set(kinds) <= {"convolutions", "matmuls", "gathers", "reductions", "data movement", "elementwise, other"}
  assert kinds.get("matmuls", 0) > 0 and kinds.get("elementwise, other", 0) > 0, kinds
  assert abs(sum(kinds.values()) - r["op_ms_per_step"]) < 0.01, r


def test_all_lists_every_benchmark_and_stamps_its_rows(python):
  import os
  import sys
  sys.path.insert(0, "benchmarks")
  import all as bench_all  # pylint: disable=import-outside-toplevel,redefined-builtin
  scripts = {s for s, _, _ in bench_all.SCRIPTS.values()}
  on_disk = {f for f in os.listdir("benchmarks") if f.endswith(".py") and f != "all.py"}
  assert scripts == on_disk, on_disk ^ scripts  # a new benchmark must be added to all.py
  rows = _rows(python(["benchmarks/all.py", "--smoke", "--only", "nerd_eval_memory"], timeout=180).stdout)
  row = rows["nerd_eval_digits"]
  assert row["benchmark"] == "nerd_eval_memory" and row["device"] and row["jax"] and row["commit"]
  bad = python(["benchmarks/all.py", "--only", "nope"], timeout=60, check=False)
  assert bad.returncode != 0 and "unknown benchmark" in bad.stderr
