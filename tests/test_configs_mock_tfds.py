"""The TFDS image configs (mnist_*, stl10_bince, stl10_bince:cifar10) run end to end on
`tfds.testing.mock_data`: tiny ResNet18, a few steps, the full compress-decode-probe report."""
import math

import pytest

from lossyless_jax import train
from test_methods_lossyless import load_config


@pytest.mark.parametrize("name,arg,tfds_name", [("mnist_vic", "mock", "mnist"),
                                                 ("stl10_bince", "cifar10_mock", "cifar10"),
                                                 ("stl10_bince", "mock", "stl10")])
def test_image_configs_run_on_mock_tfds(tmp_path, name, arg, tfds_name):
  tfds = pytest.importorskip("tensorflow_datasets")
  config = load_config(name, arg)
  assert config.data.name == f"tfds:{tfds_name}" and config.model.encoder == "resnet18"
  assert config.data.train_split == ("unlabelled" if tfds_name == "stl10" else "train")
  config.data.data_dir = str(tmp_path / "tfds")
  with tfds.testing.mock_data(num_examples=16):
    report = train.train_and_eval(config, str(tmp_path / "run"))
  assert report["steps"] == 2
  for key in ("bits_per_image_estimated", "bits_per_image_coded", "probe_accuracy"):
    assert math.isfinite(report[key])
  # Two-sided: the payload is the estimate within 2 %, plus at most two 64-bit range-coder
  # flushes (the hyperprior's two streams) spread over the few mock images; the header comes on top.
  est, payload, n = (report["test_bits_per_image_estimated"], report["test_bits_per_image_coded_payload"],
                     report["test_num_images"])
  assert 0.98 * est <= payload <= 1.02 * est + 2 * 64 / n, (est, payload, n)
  assert report["bits_per_image_coded"] == pytest.approx(payload + 8 * report["test_header_bytes"] / n)
