import numpy as np
import pytest

from pipelines.color import pq


def test_pq_reference_values():
    got = pq.pq_encode(np.array([100.0, 203.0, 1000.0]))
    assert np.round(got, 4).tolist() == [0.5081, 0.5807, 0.7518]


def test_pq_round_trip():
    nits = np.concatenate([[0.0], np.geomspace(1e-4, 1e4, 500)])
    np.testing.assert_allclose(pq.pq_decode(pq.pq_encode(nits)), nits, rtol=1e-9, atol=1e-12)
    assert pq.pq_encode(10000.0) == pytest.approx(1.0)
    assert pq.pq_decode(1.0) == pytest.approx(10000.0)


def test_pq_is_float64_and_clamps_out_of_range():
    assert pq.pq_encode(np.float32(100.0)).dtype == np.float64
    assert pq.pq_decode(np.array([-0.5, 1.5])).tolist() == pytest.approx([0.0, 10000.0])


def test_fast_decode_agrees():
    e = np.linspace(0.0, 1.0, 10001, dtype=np.float32)
    fast = pq.pq_decode_f32(e)
    assert fast.dtype == np.float32
    exact = pq.pq_decode(e)
    np.testing.assert_allclose(fast, exact, rtol=1e-4, atol=1e-7)
    at_1000 = e <= pq.pq_encode(1000.0)
    assert np.abs(fast[at_1000] - exact[at_1000]).max() < 0.05


def test_mean_nits_is_within_a_thousandth_of_a_nit_of_the_exact_mean():
    rng = np.random.default_rng(17)
    for signal in (rng.random((270, 480), np.float32), rng.random((270, 480), np.float32) * pq.pq_encode(1000.0)):
        exact = pq.pq_decode(signal.astype(np.float64)).mean()
        assert pq.pq_mean_nits(signal) == pytest.approx(exact, abs=1e-3)


def test_mean_nits_clips_out_of_range_signals_and_keeps_its_input():
    signal = np.array([-0.5, 0.0, 1.0, 1.5], np.float32)
    before = signal.copy()
    assert pq.pq_mean_nits(signal) == pytest.approx(10000.0 / 2)
    np.testing.assert_array_equal(signal, before)


def test_mean_nits_is_the_same_bit_for_bit_whatever_order_or_pieces_the_pixels_come_in():
    rng = np.random.default_rng(23)
    steps = rng.integers(0, pq.MEAN_STEPS + 1, (270, 480)).astype(np.uint16)
    whole = pq.mean_nits_of_steps(steps)
    assert pq.mean_nits_of_steps(rng.permutation(steps.ravel())) == whole
    pieces = sum(pq.sum_nits_of_steps(steps[a : a + 7]) for a in range(0, 270, 7))
    assert pieces / steps.size == whole
    out = np.empty(steps[:7].shape, np.float64)
    assert pq.sum_nits_of_steps(steps[:7], out=out) == float(out.sum())


def test_mean_nits_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="no pixels"):
        pq.pq_mean_nits(np.empty((0, 4), np.float32))


def test_ycbcr_codes_are_rounded_half_to_even_and_clipped():
    # Y' = 16 + 219 E' in 8 bits: E' on exact half codes must round as numpy's rint does.
    half_up = np.full((2, 2), (20.5 - 16.0) / 219.0, np.float32)
    y, _, _ = pq.planar_ycbcr420(half_up, half_up, half_up, kr=0.2126, kb=0.0722, bits=8)
    expected = np.rint(np.float32(16.0) + half_up * np.float32(219.0))
    assert y.dtype == np.uint8 and y.tolist() == expected.astype(np.uint8).tolist()
    over = np.full((2, 2), 2.0, np.float32)
    y, cb, cr = pq.planar_ycbcr420(over, over * 0, over * 0, kr=0.2126, kb=0.0722, bits=10)
    assert y.dtype == np.uint16 and int(y.max()) <= 1023 and int(cb.min()) >= 0


def test_narrow_range_codes():
    assert pq.pq_to_code10(np.array([0.0, 1.0])).tolist() == [64, 940]
    assert pq.pq_to_code10(np.array([-0.5, 0.0, 0.5]), chroma=True).tolist() == [64, 512, 960]
    assert pq.narrow_code(np.array([0.0, 1.0]), bits=8).tolist() == [16, 235]
    assert int(pq.pq_to_code10(pq.pq_encode(1000.0))) == 723  # 64 + 876 * 0.7518


def test_ycbcr_bt2020_narrow_range_math():
    rgb = np.empty((2, 2, 3), np.float32)
    rgb[:] = (0.6, 0.4, 0.2)
    y, cb, cr = pq.ycbcr420(rgb, kr=pq.BT2020_KR, kb=pq.BT2020_KB, bits=10)
    luma = 0.2627 * 0.6 + 0.6780 * 0.4 + 0.0593 * 0.2
    assert y.dtype == np.uint16 and y.shape == (2, 2) and cb.shape == (1, 1)
    assert int(y[0, 0]) == round(64 + 876 * luma)
    assert int(cb[0, 0]) == round(512 + 896 * (0.2 - luma) / 1.8814)
    assert int(cr[0, 0]) == round(512 + 896 * (0.6 - luma) / 1.4746)
    with pytest.raises(ValueError, match="even"):
        pq.ycbcr420(np.zeros((3, 4, 3), np.float32), kr=pq.BT2020_KR, kb=pq.BT2020_KB, bits=10)


def test_chroma_is_cosited_with_even_columns():
    # Blue only in luma column 2: chroma sample 1 (centred on column 2) sees
    # half of it via the [1 2 1] filter, samples 0 and 2 see none / a quarter.
    rgb = np.zeros((2, 6, 3), np.float32)
    rgb[:, 2, 2] = 1.0
    _, cb, _ = pq.ycbcr420(rgb, kr=pq.BT2020_KR, kb=pq.BT2020_KB, bits=10)
    full = 896 * (1 - 0.0593) / 1.8814
    assert cb[0].tolist() == [512, round(512 + full / 2), 512]
    rgb[:, 2, 2], rgb[:, 3, 2] = 0.0, 1.0  # odd column: split between two samples
    _, cb, _ = pq.ycbcr420(rgb, kr=pq.BT2020_KR, kb=pq.BT2020_KB, bits=10)
    assert cb[0].tolist() == [512, round(512 + full / 4), round(512 + full / 4)]


def _bradford_matrix(src_xy, src_white, dst_xy, dst_white):
    """RGB->RGB through XYZ from chromaticities, with Bradford white adaptation."""

    def xyz(x, y):
        return np.array([x / y, 1.0, (1 - x - y) / y])

    def rgb_to_xyz(prims, white):
        m = np.stack([xyz(*p) for p in prims], axis=1)
        return m * np.linalg.solve(m, xyz(*white))

    bradford = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
    cat = np.linalg.inv(bradford) @ np.diag((bradford @ xyz(*dst_white)) / (bradford @ xyz(*src_white))) @ bradford
    return np.linalg.inv(rgb_to_xyz(dst_xy, dst_white)) @ cat @ rgb_to_xyz(src_xy, src_white)


def test_acescg_to_bt2020_matrix_from_primaries():
    ap1 = [(0.713, 0.293), (0.165, 0.830), (0.128, 0.044)]
    bt2020 = [(0.708, 0.292), (0.170, 0.797), (0.131, 0.046)]
    m = _bradford_matrix(ap1, (0.32168, 0.33767), bt2020, (0.3127, 0.3290))
    np.testing.assert_allclose(pq.ACESCG_TO_BT2020, m, atol=2e-5)
