"""launch/codec.py: compress -> decompress reproduces the evaluation's representations exactly
(acceptance 7); inspect reads the header; probe trains from files; corrupted files are refused."""
import json
import os

import numpy as np
import pytest

import test_methods_lossyless as tml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_codec_cli_round_trip_equals_evaluation_representations(tmp_path, python):
  workdir, report = tml.tiny_vic_workdir()
  f = str(tmp_path / "test.ljxb")
  out = python(["launch/codec.py", "compress", f"--workdir={workdir}", "--split=test", f"--out={f}"]).stdout
  info = json.loads(out[out.index("{"):])
  assert info["bits_per_image_coded"] == pytest.approx(report["test_bits_per_image_coded"])
  with open(f, "rb") as a, open(os.path.join(workdir, "compressed", "test.ljxb"), "rb") as b:
    assert a.read() == b.read()  # the same file as the evaluation's
  npz = str(tmp_path / "test.npz")
  python(["launch/codec.py", "decompress", f"--workdir={workdir}", f"--file={f}", f"--out={npz}"])
  got = np.load(npz)["z_hat"]
  want = np.load(os.path.join(workdir, "representations.npz"))["test_z_hat"]
  assert got.dtype == want.dtype and got.shape == want.shape
  np.testing.assert_array_equal(got, want)
  out = python(["launch/codec.py", "inspect", f]).stdout
  header = json.loads(out[out.index("{"):])
  assert header["shape"] == list(want.shape) and header["file_bytes"] == os.path.getsize(f)


def test_codec_probe_from_files_and_corruption(tmp_path):
  import importlib.util
  spec = importlib.util.spec_from_file_location("codec", os.path.join(ROOT, "launch", "codec.py"))
  codec = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(codec)
  from lossyless_jax.entropy import container
  workdir, report = tml.tiny_vic_workdir()
  ftr, fte = str(tmp_path / "train.ljxb"), str(tmp_path / "test.ljxb")
  codec.compress(workdir, "train", ftr)
  codec.compress(workdir, "test", fte)
  res = codec.probe(workdir, ftr, fte, epochs=5)
  assert 0.0 <= res["linear_probe_accuracy"] <= 1.0 and res["test_images"] == report["test_num_images"]
  data = bytearray(open(fte, "rb").read())
  data[len(data) // 2] ^= 0xFF
  bad = str(tmp_path / "bad.ljxb")
  open(bad, "wb").write(bytes(data))
  with pytest.raises(container.BitstreamError):
    codec.decompress(workdir, bad)


def test_decompress_needs_only_the_compressor_file(tmp_path, python):
  """A copy of a run holding only compressor.msgpack decodes (no config.json, nothing written)."""
  import shutil
  workdir, _ = tml.tiny_vic_workdir()
  copy = tmp_path / "copy"
  copy.mkdir()
  shutil.copy(os.path.join(workdir, "compressor.msgpack"), copy)
  npz = str(tmp_path / "test.npz")
  python(["launch/codec.py", "decompress", f"--workdir={copy}", f"--file={os.path.join(workdir, 'compressed', 'test.ljxb')}",
          f"--out={npz}"])
  want = np.load(os.path.join(workdir, "representations.npz"))["test_z_hat"]
  np.testing.assert_array_equal(np.load(npz)["z_hat"], want)
  assert sorted(os.listdir(copy)) == ["compressor.msgpack"]


def test_decompress_reads_the_tables_stored_at_export_not_the_parameters(tmp_path):
  """The decoder never rebuilds tables from floats: with the parameters of compressor.msgpack
  zeroed (tables kept), a file still decodes exactly; with the tables removed it warns."""
  import importlib.util
  import jax
  from flax import serialization
  spec = importlib.util.spec_from_file_location("codec", os.path.join(ROOT, "launch", "codec.py"))
  codec = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(codec)
  workdir, _ = tml.tiny_vic_workdir()
  tree = serialization.msgpack_restore(open(os.path.join(workdir, "compressor.msgpack"), "rb").read())
  assert "tables" in tree
  tree["params"] = jax.tree_util.tree_map(np.zeros_like, tree["params"])
  (tmp_path / "w").mkdir()
  open(tmp_path / "w" / "compressor.msgpack", "wb").write(serialization.msgpack_serialize(tree))
  f = os.path.join(workdir, "compressed", "test.ljxb")
  want = np.load(os.path.join(workdir, "representations.npz"))["test_z_hat"]
  np.testing.assert_array_equal(codec.decompress(str(tmp_path / "w"), f), want)


def test_export_rebuilds_tables_of_an_older_version(tmp_path, python):
  """Tables of an older version (here: without the ``version`` field, i.e. version 1) are not
  used: decompress warns and rebuilds them; ``codec.py export`` stores current ones, after which
  decompress reads them silently and decodes the same."""
  import shutil
  from flax import serialization
  workdir, _ = tml.tiny_vic_workdir()
  w = tmp_path / "w"
  w.mkdir()
  tree = serialization.msgpack_restore(open(os.path.join(workdir, "compressor.msgpack"), "rb").read())
  del tree["tables"]["version"]
  open(w / "compressor.msgpack", "wb").write(serialization.msgpack_serialize(tree))
  f = os.path.join(workdir, "compressed", "test.ljxb")
  want = np.load(os.path.join(workdir, "representations.npz"))["test_z_hat"]
  npz = str(tmp_path / "a.npz")
  proc = python(["launch/codec.py", "decompress", f"--workdir={w}", f"--file={f}", f"--out={npz}"])
  assert "codec.py export" in proc.stderr
  np.testing.assert_array_equal(np.load(npz)["z_hat"], want)
  out = python(["launch/codec.py", "export", f"--workdir={w}"]).stdout
  assert json.loads(out[out.index("{"):])["tables_version"] == 2
  proc = python(["launch/codec.py", "decompress", f"--workdir={w}", f"--file={f}", f"--out={npz}"])
  assert "warning" not in proc.stderr
  np.testing.assert_array_equal(np.load(npz)["z_hat"], want)
  shutil.rmtree(w)
