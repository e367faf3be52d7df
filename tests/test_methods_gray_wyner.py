"""The Gray-Wyner method: every codec trains on both sources, the configs run end to end through
launch/main.py, the report's three-stream files decode (and refuse a foreign common stream), and
the rate metrics obey Rt = R0 + R1 + R2, Rr = 2R0 + R1 + R2 per codec."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax import config as config_lib
from lossyless_jax import data as data_lib
from lossyless_jax import methods
from lossyless_jax.entropy import container, streams
from lossyless_jax.methods.gray_wyner import method as gw_method
from lossyless_jax.methods.gray_wyner import files as gw_files
from lossyless_jax.methods.gray_wyner import report as gw_report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODECS = ("shared", "separated", "combined", "independent", "joint")
DIGITS, SYNTHETIC = "configs/gray_wyner_digits.py", "configs/gray_wyner_synthetic.py"
# Tiny sizes for every test (the configs' defaults are CPU-minutes runs).
TINY_DIGITS = {"model.channels": (4, 4, 8), "model.num_blocks": 1, "model.head_hidden": 16,
               "data.batch_size": 8, "data.eval_batch_size": 60}
TINY_SYNTHETIC = {"data.options.side": 16, "data.batch_size": 4, "data.eval_batch_size": 8,
                  "data.options.eval_size": 8}


def tiny_config(path, arg, **extra):
  c = config_lib.load(f"{path}:{arg}")
  c.update_from_flattened_dict({**(TINY_DIGITS if path == DIGITS else TINY_SYNTHETIC), **extra})
  return c


def batch_of(config, n):
  it = data_lib.build(config.data, "train")
  return {k: jnp.asarray(v[:n]) for k, v in next(it).items()}


def train_steps(config, num):
  """`num` Adam steps of the method's loss; returns (params, [losses], last metrics)."""
  import optax
  method = methods.get("gray_wyner")
  method.validate(config)
  batch = batch_of(config, int(config.data.batch_size))
  params, state = method.init(jax.random.PRNGKey(0), batch, config)
  tx = optax.adam(1e-3)
  opt = tx.init(params)
  ctx = methods.StepContext(step=0, coefs={}, config=config)

  def step_fn(params, opt):
    (value, (metrics, _)), grads = jax.value_and_grad(method.loss, has_aux=True)(params, state, batch, None, ctx)
    updates, opt = tx.update(grads, opt, params)
    return optax.apply_updates(params, updates), opt, value, metrics

  # a few steps only: compile without XLA's backend optimisations (most of the compile time on CPU)
  step = jax.jit(step_fn).lower(params, opt).compile(compiler_options={"xla_backend_optimization_level": 0})
  losses = []
  for _ in range(num):
    params, opt, value, metrics = step(params, opt)
    losses.append(float(value))
  return params, losses, jax.tree_util.tree_map(float, metrics)


def check_rate_relations(m, codec, prefix="", suffix="_bpp"):
  r0, r1, r2, rt, rr = (m[f"{prefix}{k}{suffix}"] for k in ("R0", "R1", "R2", "Rt", "Rr"))
  assert rt == pytest.approx(r0 + r1 + r2, rel=1e-5, abs=1e-9)
  assert rr == pytest.approx(2 * r0 + r1 + r2, rel=1e-5, abs=1e-9)
  if codec == "independent":
    assert r0 == 0.0 and rt == pytest.approx(rr)
  if codec == "joint":
    assert r1 == 0.0 and r2 == 0.0 and rr == pytest.approx(2 * rt)
  if codec not in ("independent", "joint"):
    assert min(r0, r1, r2) > 0


@pytest.mark.parametrize("codec", CODECS)
def test_every_codec_trains_on_coloured_digits(codec):
  config = tiny_config(DIGITS, f"dependent,{codec}")
  _, losses, metrics = train_steps(config, 3)
  assert all(np.isfinite(losses)) and losses[-1] < losses[0]
  check_rate_relations(metrics, codec)
  assert 0.0 <= metrics["acc_digit"] <= 1.0 and 0.0 <= metrics["acc_colour"] <= 1.0
  assert metrics["aux_mse"] >= 0 and (codec == "shared" or metrics["aux_mse"] == 0)


@pytest.mark.parametrize("codec", CODECS)
def test_every_codec_trains_on_the_synthetic_source(codec):
  config = tiny_config(SYNTHETIC, f"{codec},1.5")
  _, losses, metrics = train_steps(config, 2)
  assert all(np.isfinite(losses)) and losses[-1] < losses[0]
  check_rate_relations(metrics, codec)
  assert metrics["rmse_1"] > 0 and metrics["rmse_2"] > 0


@pytest.mark.parametrize("warmup,step,ramp", [(0, 0, 1.0), (100, 25, 0.25), (100, 100, 1.0), (100, 400, 1.0)])
def test_loss_is_the_papers_lagrangian(warmup, step, ramp):
  """L = η(βR0 + R1 + R2) + d1 + d2 + w_aux·MSE(Y0¹, Y0²) with w_aux = η on the digits (Shared);
  with ``eta_warmup_steps`` the rate's η ramps linearly from 0, the agreement weight does not."""
  config = tiny_config(DIGITS, "dependent,shared", **{"loss.eta": 3.0, "loss.beta": 0.5,
                                                      "loss.eta_warmup_steps": warmup})
  method = methods.get("gray_wyner")
  batch = batch_of(config, 8)
  params, state = method.init(jax.random.PRNGKey(0), batch, config)
  params = spread(params, ("f1", "f2"), 60.0)
  c = int(config.model.latent_channels) // 2
  kernel = params["f2"]["down_3"]["conv"]["kernel"]  # half of the common candidates agree
  params["f2"]["down_3"]["conv"]["kernel"] = kernel.at[..., :c // 2 + 1].set(
      params["f1"]["down_3"]["conv"]["kernel"][..., :c // 2 + 1])
  params["f2"]["down_3"]["conv"]["bias"] = params["f1"]["down_3"]["conv"]["bias"]
  for k in params["f2"]:
    if k != "down_3":
      params["f2"][k] = params["f1"][k]
  ctx = methods.StepContext(step=jnp.asarray(step), coefs={}, config=config)
  value, (m, _) = method.loss(params, state, batch, None, ctx)
  m = jax.tree_util.tree_map(float, m)
  assert m["R0_bpp"] > 1e-3 and m["aux_mse"] > 1e-3
  expected = (3.0 * ramp * (0.5 * m["R0_bpp"] + m["R1_bpp"] + m["R2_bpp"]) + m["d1"] + m["d2"]
              + 3.0 * m["aux_mse"])
  assert float(value) == pytest.approx(expected, rel=1e-5)


def test_validate_refuses_bad_fields():
  config = tiny_config(SYNTHETIC, "shared,1.5", **{"model.latent_channels": 256})
  with pytest.raises(config_lib.ConfigError, match="latent_channels"):
    gw_method.validate(config)
  config = tiny_config(DIGITS, "dependent,shared")
  config.model.codec = "sharde"
  with pytest.raises(config_lib.ConfigError, match="codec"):
    gw_method.validate(config)
  with pytest.raises(config_lib.ConfigError, match="arg"):
    config_lib.load(f"{DIGITS}:dependant,shared")


def test_sweeps_are_the_papers_grids():
  import importlib.util
  def module(path):
    spec = importlib.util.spec_from_file_location("cfg", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
  syn = module(SYNTHETIC).get_sweep("shared,1.5")
  assert sorted({(d["loss.beta"], d["loss.eta"]) for d in syn}) == sorted(
      (b, e) for b in (1.0, 1.5, 2.0) for e in (0.001, 0.01, 0.1, 0.5, 1.0))
  assert [d["loss.eta"] for d in module(DIGITS).get_sweep("independent,shared")] == [1.0, 10.0, 25.0, 50.0]
  assert [d["loss.eta"] for d in module(DIGITS).get_sweep("mixture,independent")] == [1.0, 10.0, 25.0, 50.0, 75.0]


# ------------------------------------------------------------------------------ coded streams
def spread(params, encoders, factor=40.0):
  """The encoders' last layer scaled up, so that a few steps' latents are not all zero (a tiny
  untrained encoder's outputs all round to 0, which would make every file the same)."""
  params = jax.tree_util.tree_map(lambda a: a, params)
  for name in encoders:
    last = sorted(k for k in params[name] if k.startswith("down_"))[-1]
    params[name][last] = jax.tree_util.tree_map(lambda a: a * factor, params[name][last])
  return params


@pytest.fixture(scope="module")
def coded(tmp_path_factory):
  """A few training steps of Shared on the digits, then the report's coding of 4 test images."""
  config = tiny_config(DIGITS, "dependent,shared", **{"loss.code_images": 4})
  params, _, _ = train_steps(config, 3)
  params = spread(params, ("f1",))
  params["f2"] = params["f1"]  # the two common candidates agree: a non-trivial common channel
  workdir = str(tmp_path_factory.mktemp("gw_report"))
  ctx = methods.StepContext(step=3, coefs={}, config=config, workdir=workdir)
  rep = gw_report.run(params, {}, ctx)
  return config, params, rep, workdir


def test_report_streams_decode(coded):
  config, params, rep, workdir = coded
  assert rep["coded_images"] == 4 and rep["decoded_latents_exact"] is True
  assert rep["streams"] == ["common", "private1", "private2"]
  check_rate_relations(rep, "shared", suffix="")
  assert rep["R0_bits_per_image"] == pytest.approx(rep["R0"] * 32 * 32)
  for k in ("acc_digit", "acc_colour", "coded_bits/common", "coded_bits/private1", "coded_bits/private2"):
    assert k in rep
  assert rep["decoded_acc_digit"] == rep["estimated_path_acc_digit"]
  files = sorted(os.listdir(os.path.join(workdir, "compressed")))
  assert len(files) == 4
  states = gw_report.export_states(config, params)
  datas = [open(os.path.join(workdir, "compressed", f), "rb").read() for f in files]
  by_name = [{s.name: s for s in streams.unpack(d)} for d in datas]
  assert by_name[0]["private1"].depends == {"common": by_name[0]["common"].crc}
  # the encoder's latents of these images
  arrays = data_lib.load_arrays(config.data, "test")
  out = gw_method.per_example_fn(config)(params, {}, {k: jnp.asarray(v[:4]) for k, v in arrays.items()})
  for i in range(2):
    y0 = gw_files.decode_common(states, by_name[i]["common"])  # the common stream alone
    np.testing.assert_array_equal(y0, np.asarray(out["latent/y0"][i]))
    for j in (1, 2):
      y = gw_files.decode_private(states, by_name[i][f"private{j}"], by_name[i]["common"])
      np.testing.assert_array_equal(y, np.asarray(out[f"latent/y{j}"][i]))
  # a private stream paired with another file's common stream refuses to decode
  differ = next(k for k in range(1, 4) if by_name[k]["common"].crc != by_name[0]["common"].crc)
  with pytest.raises(container.BitstreamError):
    gw_files.decode_private(states, by_name[0]["private1"], by_name[differ]["common"])
  with pytest.raises(container.BitstreamError):
    gw_files.decode_private(states, by_name[0]["private2"], None)
  # a file holding only the private streams keeps the dependency: decoding it alone fails
  alone = streams.subset(datas[0], ["private1"])
  with pytest.raises(container.BitstreamError):
    gw_files.decode_private(states, streams.unpack(alone)[0], None)


def test_codec_cli_decodes_each_receivers_streams_to_the_evaluated_latents(coded, python, tmp_path):
  """launch/codec.py on a Gray-Wyner workdir: a split file whose common stream decodes alone and
  whose private streams decode given it, to exactly the latents the evaluation used
  (``latents.npz``); a private stream with another split's common stream is refused."""
  import importlib.util
  _, _, _, workdir = coded
  spec = importlib.util.spec_from_file_location("codec", os.path.join(ROOT, "launch", "codec.py"))
  codec = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(codec)
  want = dict(np.load(os.path.join(workdir, "latents.npz")))
  f = str(tmp_path / "test.ljxs")
  out = python(["launch/codec.py", "compress", f"--workdir={workdir}", "--split=test", f"--out={f}"]).stdout
  info = json.loads(out[out.index("{"):])
  assert info["num_images"] == 4 and set(k.split("/")[1] for k in info if "/" in k) == {"common", "private1", "private2"}
  npz = str(tmp_path / "common.npz")
  python(["launch/codec.py", "decompress", f"--workdir={workdir}", f"--file={f}", "--stream=common", f"--out={npz}"])
  got = dict(np.load(npz))
  assert sorted(got) == ["y0"]
  np.testing.assert_array_equal(got["y0"], want["y0"])
  common_alone = streams.subset(open(f, "rb").read(), ["common"])  # a receiver holding only the common stream
  np.testing.assert_array_equal(codec.gw_files_decode(workdir, common_alone, "common")["y0"], want["y0"])
  for j in (1, 2):
    got = codec.decompress_gray_wyner(workdir, f, f"private{j}")
    assert sorted(got) == ["y0", f"y{j}"]
    np.testing.assert_array_equal(got[f"y{j}"], want[f"y{j}"])
  # the private streams of this file with the common stream of another split: refused
  other = str(tmp_path / "validation.ljxs")
  codec.compress_gray_wyner(workdir, "validation", other, 4)
  mine, theirs = streams.unpack(open(f, "rb").read()), streams.unpack(open(other, "rb").read())
  forged = streams.pack([("common", theirs[0].payload, ()),
                         ("private1", mine[1].payload, (("common", mine[0].crc),))])
  with pytest.raises(container.ForeignModelError):  # the dependency check, before any decoding
    codec.gw_files_decode(workdir, forged, "private1")


def test_report_rates_match_the_coded_files(coded):
  _, _, rep, _ = coded
  for s in rep["streams"]:
    assert rep[f"coded_bits/{s}"] > rep[f"latent_bits/{s}"] >= 0
    assert rep[f"coded_within_tolerance/{s}"] is True, (s, rep[f"latent_bits/{s}"], rep[f"estimated_bits/{s}"])
  assert rep["file_bits"] > sum(rep[f"coded_bits/{s}"] for s in rep["streams"])


@pytest.mark.slow
def test_report_of_independent_and_joint_streams(tmp_path):
  for codec, names in (("independent", ["private1", "private2"]), ("joint", ["common"])):
    config = tiny_config(DIGITS, f"dependent,{codec}", **{"loss.code_images": 2})
    params, _, _ = train_steps(config, 1)
    ctx = methods.StepContext(step=1, coefs={}, config=config, workdir=str(tmp_path / codec))
    rep = gw_report.run(params, {}, ctx)
    assert rep["streams"] == names and rep["decoded_latents_exact"] is True
    check_rate_relations(rep, codec, suffix="")


# ------------------------------------------------------------------------------ end to end
@pytest.mark.parametrize("path, arg, overrides", [
    (DIGITS, "independent,shared", TINY_DIGITS),
    (SYNTHETIC, "separated,2", TINY_SYNTHETIC),
])
def test_config_runs_end_to_end(python, tmp_path, path, arg, overrides):
  flags = [f"--config.{k}={v}" for k, v in overrides.items()]
  flags += ["--config.num_steps=4", "--config.eval_every=2", "--config.log_every=2", "--config.loss.code_images=2"]
  workdir = str(tmp_path / "run")
  python(["launch/main.py", f"--config={path}:{arg}", f"--workdir={workdir}", *flags], timeout=600)
  with open(os.path.join(workdir, "report.json")) as f:
    rep = json.load(f)
  assert rep["steps"] == 4 and rep["monitor"] == "validation/rate_distortion"
  for k in ("R0", "R1", "R2", "Rt", "Rr", "rate_unit", "coded_bits/common", "coded_bits/private1",
            "coded_bits/private2"):
    assert k in rep
  assert ("acc_digit" in rep and "acc_colour" in rep) if path == DIGITS else ("rmse_1" in rep and "rmse_2" in rep)
  assert len(os.listdir(os.path.join(workdir, "compressed"))) == 2
  assert rep["decoded_latents_exact"] is True
