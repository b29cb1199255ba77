import numpy as np
import pytest

from pipelines.master.transitions import blend


def flat(value: float) -> np.ndarray:
    return np.full((4, 6, 3), value, np.float32)


def test_mixes_in_linear_light():
    # Halfway between black and scene white is 0.5 in linear light, not the
    # ~0.21 a mix of display-encoded (gamma ~2.2) signals would give.
    out = blend([(flat(0.0), 0.5), (flat(1.0), 0.5)])
    np.testing.assert_allclose(out, 0.5)
    assert out.dtype == np.float32


def test_weighted_thirds_keep_hdr_values():
    out = blend([(flat(12.0), 1 / 3), (flat(3.0), 2 / 3)])
    np.testing.assert_allclose(out, 6.0, rtol=1e-6)


def test_single_layer_is_a_copy():
    src = flat(2.0)
    out = blend([(src, 1.0)])
    np.testing.assert_array_equal(out, src)
    out[0, 0, 0] = 9.0
    assert src[0, 0, 0] == 2.0


@pytest.mark.parametrize(
    "weights", [(0.5, 0.4), (0.6, 0.6), (1.2, -0.2), (float("nan"), 1.0)], ids=["dip", "flash", "negative", "nan"]
)
def test_refuses_weights_that_do_not_sum_to_one(weights):
    with pytest.raises(ValueError):
        blend([(flat(1.0), weights[0]), (flat(1.0), weights[1])])


def test_refuses_empty_mismatched_and_integer_layers():
    with pytest.raises(ValueError):
        blend([])
    with pytest.raises(ValueError, match="layer 1"):
        blend([(flat(1.0), 0.5), (np.zeros((4, 5, 3), np.float32), 0.5)])
    with pytest.raises(ValueError, match="uint8"):
        blend([(np.zeros((4, 6, 3), np.uint8), 1.0)])
