"""lossyless_jax.Compressor: the README's "Compressing your own data" blocks run verbatim on a tiny
digits workdir and decode to what launch/codec.py decodes; bad input names what is wrong; the
Gray-Wyner and one-shot compressors reproduce the report's files."""
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from lossyless_jax import api, errors, train

README_WORKDIR = "workdirs/digits_vic"


def tiny_vic_workdir() -> str:
  """The tiny digits VIC run that tests/test_methods_lossyless.py and test_launch_codec.py share."""
  import test_methods_lossyless as tml
  return tml.tiny_vic_workdir()[0]


def readme_blocks(section: str = "Compressing your own data") -> dict:
  """``{"python": [code, ...], "bash": [...]}``: the fenced blocks of one README section."""
  text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
  start = text.index(f"\n## {section}\n")
  end = text.find("\n## ", start + 1)
  body = text[start:end if end > 0 else None]
  blocks = {}
  for lang, code in re.findall(r"```(\w+)\n(.*?)```", body, flags=re.S):
    blocks.setdefault(lang, []).append(code)
  return blocks


# Runs each command line given as an argument through launch/codec.py's __main__ in this one
# process (one start-up and one compilation of the encoder for all the README's commands).
CLI_DRIVER = """
import os, runpy, shlex, sys
from absl import flags
sys.path.insert(0, os.path.join(ROOT, "launch"))
for line in sys.argv[1:]:
  sys.argv = [os.path.join(ROOT, "launch", "codec.py")] + shlex.split(line)[2:]
  flags.FLAGS.unparse_flags()
  try:
    runpy.run_path(sys.argv[0], run_name="__main__")
  except SystemExit as e:
    if e.code not in (0, None):
      sys.exit(f"{line}: exit status {e.code}")
"""


def test_readme_blocks_run_and_decode_to_what_the_cli_decodes(tmp_path, monkeypatch):
  workdir = tiny_vic_workdir()
  blocks = readme_blocks()
  assert len(blocks["python"]) == 1 and len(blocks["bash"]) == 1
  monkeypatch.chdir(tmp_path)  # the blocks write digits.npy and digits_png/ where they run
  ns = {}
  exec(compile(blocks["python"][0].replace(README_WORKDIR, workdir), "README.md", "exec"), ns)  # pylint: disable=exec-used
  assert ns["z_hat"].shape == (8, 32) and ns["x_hat"].shape == (8, 16, 16, 1)
  lines = [" ".join(shlex.split(line, comments=True)).replace(README_WORKDIR, workdir)
           for line in blocks["bash"][0].splitlines() if shlex.split(line, comments=True)]
  assert len(lines) == 5 and all(line.startswith("python launch/codec.py ") for line in lines), lines
  proc = subprocess.run([sys.executable, "-c", f"ROOT = {ROOT!r}\n" + CLI_DRIVER, *lines], capture_output=True,
                        text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"), timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "oneDNN" not in proc.stderr  # start-up logs silenced
  codec = os.path.join(workdir, "codec")
  with open(os.path.join(codec, "digits.ljxb"), "rb") as f:
    assert f.read() == ns["data"]  # the CLI wrote the API's bytes
  np.testing.assert_array_equal(np.load(os.path.join(codec, "digits.npz"))["z_hat"], ns["z_hat"])
  png = np.load(os.path.join(codec, "digits_png.npz"))
  np.testing.assert_array_equal(png["z_hat"], ns["z_hat_png"])
  np.testing.assert_allclose(png["x_hat"], ns["compressor"].reconstruct(ns["z_hat_png"]), rtol=0, atol=1e-6)
  assert '"file_bytes"' in proc.stdout  # inspect printed the header


def test_split_compression_equals_the_reports_file_and_representations():
  workdir = tiny_vic_workdir()
  c = api.Compressor.load(workdir)
  assert isinstance(c, api.InvariantCompressor) and c.has_decoder
  data, info = c.compress_with_info(c.views("test"), preprocessed=True)
  with open(os.path.join(workdir, "compressed", "test.ljxb"), "rb") as f:
    assert f.read() == data
  np.testing.assert_array_equal(c.decompress(data), np.load(os.path.join(workdir, "representations.npz"))["test_z_hat"])
  assert info["num"] == 360


def test_preprocess_accepts_the_documented_layouts():
  c = api.Compressor.load(tiny_vic_workdir())
  grey = np.random.default_rng(0).random((3, 8, 8))
  want = c.preprocess(grey)
  assert want.shape == (3, 16, 16, 1) and want.dtype == np.float32 and 0 <= want.min() <= want.max() <= 1
  np.testing.assert_array_equal(c.preprocess(grey[..., None]), want)
  np.testing.assert_array_equal(c.preprocess(grey[0]), want[:1])
  rgb = np.repeat(grey[..., None], 3, axis=-1)
  np.testing.assert_allclose(c.preprocess(rgb), want, atol=1e-6)  # grey RGB -> the same luma
  u8 = np.uint8(np.rint(255 * grey))
  np.testing.assert_allclose(c.preprocess(u8), c.preprocess(u8 / 255.0), atol=1e-6)


@pytest.mark.parametrize("bad, message", [
    (np.full((2, 8, 8), 2.0), r"in \[0, 1\]"),
    (np.array(["a", "b"]), "dtype"),
    (np.zeros((0, 8, 8)), "no images"),
    (np.zeros((2, 8, 12)), "aspect ratio"),
    (np.zeros((2, 8, 8, 2)), "2 channels"),
    (np.full((1, 8, 8), np.nan), "NaN"),
    (np.zeros((1, 1, 8, 8, 1)), "shape"),
])
def test_bad_input_names_what_is_wrong(bad, message):
  c = api.Compressor.load(tiny_vic_workdir())
  with pytest.raises(errors.DataError, match=message):
    c.compress(bad)


def test_bad_workdirs_and_files_name_what_is_missing(tmp_path, python):
  with pytest.raises(errors.DataError, match="holds no trained compressor"):
    api.Compressor.load(str(tmp_path))
  with pytest.raises(FileNotFoundError, match="no such workdir"):
    api.Compressor.load(str(tmp_path / "nowhere"))
  (tmp_path / "empty").mkdir()
  with pytest.raises(errors.DataError, match="no images"):
    api.read_input(str(tmp_path / "empty"))
  (tmp_path / "x.txt").write_text("1 2 3")
  with pytest.raises(errors.DataError, match="expected a .npy file or a folder"):
    api.read_input(str(tmp_path / "x.txt"))
  proc = python(["launch/codec.py", "compress", f"--workdir={tmp_path}", f"--input={tmp_path / 'empty'}"], check=False)
  assert proc.returncode == 2 and "holds no trained compressor" in proc.stderr and "Traceback" not in proc.stderr


def test_every_codec_option_has_help(python):
  out = python(["launch/codec.py", "--help"]).stdout
  flags = re.findall(r"^  --(\w+): (.*)$", out, flags=re.M)
  names = {n for n, _ in flags}
  assert {"workdir", "input", "split", "out", "file", "stream", "reconstruct", "num", "point"} <= names
  assert all(len(h) > 10 for _, h in flags), flags


def test_gray_wyner_compressor_codes_and_decodes_each_stream(tmp_path):
  """The coder file of an initialised Shared codec: the API's file is launch/codec.py's, and each
  receiver decodes the encoder's latents."""
  import importlib.util
  import jax
  import test_methods_gray_wyner as tgw
  from lossyless_jax import methods
  from lossyless_jax.methods.gray_wyner import files as gw_files
  from lossyless_jax.methods.gray_wyner import report as gw_report
  config = tgw.tiny_config(tgw.DIGITS, "dependent,shared", **{"loss.code_images": 3})
  params, _ = methods.get("gray_wyner").init(jax.random.PRNGKey(0), tgw.batch_of(config, 2), config)
  params = jax.tree_util.tree_map(np.asarray, params)
  workdir = str(tmp_path)
  gw_files.save_coder(workdir, "shared", gw_report.export_states(config, params), params, config)
  c = api.Compressor.load(workdir)
  assert isinstance(c, api.GrayWynerCompressor) and c.has_decoder
  images = gw_report.split_arrays(config, "test")["image"][:3]
  data = c.compress(images)
  spec = importlib.util.spec_from_file_location("codec", os.path.join(ROOT, "launch", "codec.py"))
  codec = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(codec)
  codec.compress_gray_wyner(workdir, "test", str(tmp_path / "test.ljxs"), 3)
  assert (tmp_path / "test.ljxs").read_bytes() == data
  want = c.encode(images)
  np.testing.assert_array_equal(c.decompress(data, stream="common")["y0"], want["y0"])
  got = c.decompress(data, stream="private2")
  assert sorted(got) == ["y0", "y2"]
  np.testing.assert_array_equal(got["y2"], want["y2"])
  rec = c.reconstruct(got)
  assert sorted(rec) == ["x2"] and rec["x2"].shape == images.shape
  assert sorted(c.reconstruct(c.decompress(data))) == ["x1", "x2"]
  with pytest.raises(errors.DataError, match="stream"):
    c.decompress(data, stream="private3")


def test_one_shot_compressor_rewrites_the_reports_file(tmp_path):
  from lossyless_jax import config as config_lib
  config = config_lib.load("configs/rcc_gaussian.py")
  config.update_from_flattened_dict({"num_steps": 2, "eval_every": 2, "log_every": 1, "checkpoint.every": 2,
                                     "loss.num_samples": 64, "loss.eval_num_samples": 256, "loss.eval_chunk_size": 256,
                                     "loss.rcc_num_candidates": 64, "loss.rcc_sources": 12,
                                     "loss.rcc_sources_per_codebook": 4})
  workdir = str(tmp_path)
  report = train.train_and_eval(config, workdir)
  c = api.Compressor.load(workdir)
  assert isinstance(c, api.OneShotCompressor) and not c.has_decoder
  from lossyless_jax import data as data_lib
  x = data_lib.load_arrays(config.data, config.eval_splits[0])["x"][:12]
  data = c.compress(x)
  with open(os.path.join(workdir, "rcc_0.bin"), "rb") as f:
    assert f.read() == data  # the same generator, seed and sources: the report's file
  y = c.decompress(data)
  assert y.shape == (12, 1) and np.isfinite(y).all()
  assert np.mean((y - x.reshape(12, 1)) ** 2) == pytest.approx(report["rcc_D"][0], rel=1e-5)
  with pytest.raises(errors.DataError, match="values per source"):
    c.compress(np.zeros((3, 2)))
  with pytest.raises(errors.DataError, match="point"):
    api.Compressor.load(workdir, point=3)
