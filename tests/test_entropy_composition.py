"""A Gray-Wyner-shaped file (Gray-Wyner paper §3): a common stream, decodable on its own, and two
private streams coded by context models conditioned on the common latent, in one
`entropy.streams` file. The common stream decodes alone; each private stream decodes given it;
a private stream paired with another file's common stream raises a typed `BitstreamError`."""
import numpy as np
import pytest

from lossyless_jax.entropy import container, streams
from lossyless_jax.entropy import context as cx
from test_entropy_context import H, W, make_params

C0, C1 = 3, 4  # common and private channels


def _states():
  common = cx.ContextModel(C0)
  private = cx.ContextModel(C1, cond_channels=C0)
  return (cx.export(common, make_params(common, seed=1)),
          [cx.export(private, make_params(private, seed=s)) for s in (2, 3)])


COMMON_STATE, PRIVATE_STATES = _states()


def encode(seed):
  """(file, ŷ0, [ŷ1, ŷ2]) of random latents: ŷ0 coded alone, ŷ1 and ŷ2 given ŷ0."""
  rng = np.random.default_rng(seed)
  y0 = rng.normal(0, 3, (H, W, C0)).astype(np.float32)
  y0_hat = cx.quantize(COMMON_STATE, y0)
  privates, hats = [], []
  for state in PRIVATE_STATES:
    y = rng.normal(0, 2, (H, W, C1)).astype(np.float32)
    privates.append(cx.compress(state, y, cond=y0_hat))
    hats.append(cx.quantize(state, y, cond=y0_hat))
  data = streams.pack([("common", cx.compress(COMMON_STATE, y0), ()),
                       ("task1", privates[0], ("common",)), ("task2", privates[1], ("common",))])
  return data, y0_hat, hats


def test_common_stream_decodes_alone_and_each_private_given_it():
  data, y0_hat, hats = encode(0)
  common_only = streams.subset(data, ["common"])
  got0 = cx.decompress(COMMON_STATE, streams.extract(common_only, "common").payload)
  np.testing.assert_array_equal(got0, y0_hat)
  for name, state, want in zip(("task1", "task2"), PRIVATE_STATES, hats):
    private = streams.unpack(streams.subset(data, [name]))[0]  # this stream alone, plus the common one
    streams.check_dependencies(private, {"common": streams.extract(common_only, "common")})
    np.testing.assert_array_equal(cx.decompress(state, private.payload, cond=got0), want)


def test_a_private_stream_with_another_files_common_stream_is_refused():
  data, _, _ = encode(0)
  other, other_y0_hat, _ = encode(1)
  task1 = streams.extract(data, "task1")
  with pytest.raises(container.ForeignModelError):
    streams.check_dependencies(task1, {"common": streams.extract(other, "common")})
  with pytest.raises(container.BitstreamError):  # and the coder itself refuses the wrong conditioning
    cx.decompress(PRIVATE_STATES[0], task1.payload, cond=other_y0_hat)
