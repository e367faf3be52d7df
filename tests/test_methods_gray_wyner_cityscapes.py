"""Gray-Wyner on Cityscapes: the smoke command end to end on a generated tree, the start-up errors
of the full command, frozen task networks, and the stage-0 pretraining that produces them."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax import data as data_lib
from lossyless_jax.entropy import streams
from lossyless_jax.methods.gray_wyner import method as gw_method
from lossyless_jax.nets import cityscapes_tasks, task_weights

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(name, arg, **overrides):
  from lossyless_jax import config as config_lib
  config = config_lib.load(f"configs/{name}:{arg}")
  config.update_from_flattened_dict(overrides)
  return config


def test_smoke_command_end_to_end(python, tmp_path):
  """`launch/main.py --config=configs/gray_wyner_cityscapes.py:smoke`: training, evaluation, three real
  streams written and decoded, a report with the rates and both task scores; then the codec CLI
  decodes the common stream of one file alone."""
  workdir = tmp_path / "run"
  data_dir = tmp_path / "cityscapes"
  proc = python(["launch/main.py", "--config=configs/gray_wyner_cityscapes.py:smoke", f"--workdir={workdir}",
                 f"--config.data.data_dir={data_dir}"], timeout=600)
  rep = json.loads((workdir / "report.json").read_text())
  for k in ("R0", "R1", "R2", "Rt", "Rr", "miou", "acc_macro", "rmse_px"):
    assert np.isfinite(rep[k]), (k, rep[k])
  assert rep["Rt"] == pytest.approx(rep["R0"] + rep["R1"] + rep["R2"])
  assert rep["Rr"] == pytest.approx(2 * rep["R0"] + rep["R1"] + rep["R2"])
  assert rep["split"] == "validation" and rep["num_pixels"] == 64 * 128
  assert rep["streams"] == ["common", "private1", "private2"] and rep["decoded_latents_exact"] is True
  assert 0 <= rep["miou"] <= 1 and rep["rmse_px"] > 0
  assert rep["decoded_miou"] == rep["estimated_path_miou"]
  files = sorted(os.listdir(workdir / "compressed"))
  assert len(files) == rep["coded_images"] == 2
  names = [s.name for s in streams.unpack((workdir / "compressed" / files[0]).read_bytes())]
  assert names == ["common", "private1", "private2"]
  assert "mIoU" in proc.stdout
  out = tmp_path / "split.ljxs"
  python(["launch/codec.py", "compress", f"--workdir={workdir}", "--split=validation", f"--out={out}"], timeout=300)
  common = tmp_path / "common.npz"
  python(["launch/codec.py", "decompress", f"--workdir={workdir}", f"--file={out}", "--stream=common",
          f"--out={common}"], timeout=300)
  latents = np.load(workdir / "latents.npz")
  np.testing.assert_array_equal(np.load(common)["y0"][:2], latents["y0"])


def test_full_command_without_data_or_weights_fails_naming_everything(python, tmp_path):
  proc = python(["launch/main.py", "--config=configs/gray_wyner_cityscapes.py", f"--workdir={tmp_path / 'run'}",
                 f"--config.data.data_dir={tmp_path / 'nowhere'}"], check=False, timeout=120)
  assert proc.returncode == 2, proc.stderr
  err = proc.stderr
  assert str(tmp_path / "nowhere") in err and "config.data.data_dir" in err
  for part in ("leftImg8bit", "gtFine", "disparity"):
    assert part in err
  for field in ("config.tasks.segmentation_weights", "config.tasks.depth_weights"):
    assert field in err
  assert "tools/convert_torch_weights.py" in err and "cityscapes_segmentation_samplers.py" in err
  assert not (tmp_path / "run").exists()


def test_task_networks_are_frozen_and_pass_gradients(tmp_path):
  """The task networks are not parameters, the loss leaves their state unchanged, and with the rate,
  agreement and reconstruction terms off the decoders still get a gradient: d1 + d2 reach them
  through the frozen networks."""
  from lossyless_jax.data import cityscapes_fake
  from lossyless_jax.methods import StepContext
  cityscapes_fake.write_fake_tree(str(tmp_path), splits={"train": 2, "val": 1}, height=64, width=128)
  config = _config("gray_wyner_cityscapes.py", "smoke", **{"data.data_dir": str(tmp_path)})
  config.loss.recon_weight, config.loss.eta, config.loss.aux_weight = 0.0, 0.0, 0.0
  batch = {k: jnp.asarray(v) for k, v in next(data_lib.build(config.data, "train")).items()}
  params, state = gw_method.init(jax.random.PRNGKey(0), batch, config)
  assert set(state) == {"segmentation", "depth"} and set(params) >= {"g1", "g2"}
  assert not set(params) & {"segmentation", "depth", "down", "up", "net"}
  ctx = StepContext(step=0, coefs={}, config=config)
  grads, new_state = jax.jit(jax.grad(lambda p: gw_method.loss(p, state, batch, None, ctx), has_aux=True))(params)
  new_state = new_state[1]
  for g in ("g1", "g2"):
    assert max(float(jnp.max(jnp.abs(x))) for x in jax.tree_util.tree_leaves(grads[g])) > 0, g
  for a, b in zip(jax.tree_util.tree_leaves(new_state), jax.tree_util.tree_leaves(state)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("task", ["segmentation", "depth"])
def test_stage0_smoke_trains_what_it_should_and_writes_the_codec_configs_weights(python, tmp_path, task):
  """Stage 0 from a weights file: segmentation changes only the samplers (the DeepLabV3+ and its
  batch statistics stay bit-identical), depth changes the network too; the written
  `task_weights.msgpack` is what the codec config loads as that frozen network."""
  from lossyless_jax.methods.gray_wyner import cityscapes as gw_cityscapes
  mod = cityscapes_tasks.network(task, True)
  x = jnp.zeros((1, 64, 128, 3))
  init = mod.init(jax.random.PRNGKey(3), x, train=False)
  init_file = str(tmp_path / "init.msgpack")
  task_weights.save(init_file, init)
  name = "cityscapes_segmentation_samplers.py" if task == "segmentation" else "cityscapes_depth.py"
  workdir, data_dir = tmp_path / "stage0", tmp_path / "cityscapes"
  python(["launch/main.py", f"--config=configs/{name}:smoke", f"--workdir={workdir}",
          f"--config.data.data_dir={data_dir}", f"--config.tasks.init_weights={init_file}"], timeout=600)
  rep = json.loads((workdir / "report.json").read_text())
  assert ("miou" in rep) == (task == "segmentation") and ("rmse_px" in rep) == (task == "depth")
  trained = task_weights.load(rep["weights"], mod, x)
  changed = {k: not all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(init["params"][k]),
                                                              jax.tree_util.tree_leaves(trained["params"][k])))
             for k in init["params"]}
  samplers = {"down", "up"}
  assert all(changed[k] for k in samplers), changed
  others = [k for k in changed if k not in samplers]
  assert others and all(changed[k] == (task == "depth") for k in others), changed
  stats_same = all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(init["batch_stats"]),
                                                         jax.tree_util.tree_leaves(trained["batch_stats"])))
  assert stats_same == (task == "segmentation")
  config = _config("gray_wyner_cityscapes.py", "smoke", **{"data.data_dir": str(data_dir), "tasks.random_init": False,
                                                           f"tasks.{task}_weights": rep["weights"]})
  other = "depth" if task == "segmentation" else "segmentation"
  other_mod = cityscapes_tasks.network(other, True)
  other_file = str(tmp_path / "other.msgpack")
  task_weights.save(other_file, other_mod.init(jax.random.PRNGKey(4), x, train=False))
  config.tasks[f"{other}_weights"] = other_file
  gw_method.validate(config)
  state = gw_cityscapes.init_state(config, jax.random.PRNGKey(0), x)
  for a, b in zip(jax.tree_util.tree_leaves(state[task]), jax.tree_util.tree_leaves(trained)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
