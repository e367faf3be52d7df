"""The wgan_gp method on mock TFDS mnist, and NERD starting its generators from the pretrained one."""
import math

import jax
import numpy as np
import pytest

from lossyless_jax import checkpoint, data, train
from lossyless_jax.methods import nerd
from test_methods_nerd import _load


def test_wgan_gp_pretrains_the_generator_nerd_starts_from(tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  gan = _load("wgan_gp_mnist", "mock")
  gan.data.data_dir = str(tmp_path / "tfds")
  workdir = str(tmp_path / "gan")
  with tfds.testing.mock_data(num_examples=16):
    report = train.train_and_eval(gan, workdir)
    config = _load("nerd_mnist", "mock")
    config.data.data_dir = gan.data.data_dir
    batch = next(data.build(config.data, "train"))
    config.model.generator_workdir = workdir
    params, state = nerd.METHOD.init(jax.random.PRNGKey(0), batch, config)
    config.model.channels = 8
    with pytest.raises(ValueError, match=r"does not match config.model .*params/bn_0/bias: pretrained \(16,\), expected \(32,\)"):
      nerd.METHOD.init(jax.random.PRNGKey(0), batch, config)
    config.model.generator_workdir = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="holds no checkpoints/latest; pretrain the generator first"):
      nerd.METHOD.init(jax.random.PRNGKey(0), batch, config)
  assert report["steps"] == 3 and math.isfinite(report["wasserstein"])
  assert (tmp_path / "gan" / "samples.png").exists()
  ckpt = checkpoint.Checkpointer(workdir, 1, 1)
  saved = ckpt.restore_latest(None)[0]
  ckpt.close()
  # Every generator (one per slope) starts from the pretrained parameters and batch statistics.
  for mine, theirs in ((params, saved["params"]), (state["batch_stats"], saved["model_state"]["batch_stats"])):
    for a, b in zip(jax.tree_util.tree_leaves(mine), jax.tree_util.tree_leaves(theirs)):
      assert a.shape == (2,) + b.shape and np.array_equal(a[0], b) and np.array_equal(a[1], b)
