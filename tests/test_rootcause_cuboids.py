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
