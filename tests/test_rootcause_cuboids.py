"""CuboidIndex's element lookups: the leaf indices and the mask of an element must name the same
leaves in the same order, since the search sums over either and expects the same floats."""
import numpy as np
import pandas as pd

from rootcause.cuboids import CuboidIndex
from rootcause.leaves import load_leaves


def _index() -> CuboidIndex:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.choice(["x", "y", "z"], 400), "b": rng.choice(list("pqrstu"), 400),
                          "c": rng.choice(["1", "2"], 400), "real": rng.uniform(1, 9, 400),
                          "predict": rng.uniform(1, 9, 400)})
    return CuboidIndex(load_leaves(frame, ["a", "b", "c"], "real", "predict"), max_layer=3)


def test_element_leaves_are_the_mask_leaves_in_ascending_order():
    index = _index()
    for layer in index.layers():
        for cuboid in layer:
            for code in range(index.size(cuboid)):
                np.testing.assert_array_equal(index.element_leaves(cuboid, code),
                                              np.flatnonzero(index.element_mask(cuboid, code)))


def test_descendants_are_the_finer_cuboids_holding_every_dimension_in_layer_order():
    index = _index()
    assert index.descendants((1,)) == [(0, 1), (1, 2), (0, 1, 2)]
    assert index.descendants((0, 1, 2)) == []


def _assert_element_leaves_match_masks(index: CuboidIndex, cuboid, codes) -> None:
    for code in codes:
        np.testing.assert_array_equal(index.element_leaves(cuboid, int(code)),
                                      np.flatnonzero(index.element_mask(cuboid, int(code))))


def test_element_leaves_match_masks_in_a_cuboid_of_more_than_65536_elements():
    rng = np.random.default_rng(5)
    n = 150_000
    frame = pd.DataFrame({"a": rng.integers(0, 400, n).astype(str), "b": rng.integers(0, 300, n).astype(str),
                          "real": rng.uniform(1, 9, n), "predict": rng.uniform(1, 9, n)})
    index = CuboidIndex(load_leaves(frame, ["a", "b"], "real", "predict"), max_layer=2)
    size = index.size((0, 1))
    assert 1 << 16 < size < n      # several leaves share some elements
    _assert_element_leaves_match_masks(index, (0, 1), [0, size - 1, *rng.integers(0, size, 100)])


def test_element_leaves_match_masks_when_every_element_has_one_leaf():
    values = [f"v{i}" for i in range(30)]
    frame = pd.DataFrame([(a, b) for b in values for a in values], columns=["a", "b"])   # b varies slowest
    frame["real"], frame["predict"] = 1.0, 1.0
    index = CuboidIndex(load_leaves(frame, ["a", "b"], "real", "predict"), max_layer=2)
    assert index.size((0, 1)) == len(frame)
    _assert_element_leaves_match_masks(index, (0, 1), range(len(frame)))
