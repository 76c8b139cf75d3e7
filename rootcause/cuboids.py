"""Enumerate cuboids (subsets of dimensions) and aggregate leaves into their elements.

Terminology from Squeeze (Li et al., ISSRE 2019): a *cuboid* is a set of dimensions, an *element* of a
cuboid is one value for each of its dimensions (``platform=android & app_version=10.0``), and its
*layer* is the number of dimensions. Every leaf belongs to exactly one element of every cuboid.
"""
from __future__ import annotations

from itertools import combinations
from typing import Iterator

import numpy as np

from rootcause.leaves import LeafTable

Cuboid = tuple[int, ...]   # sorted dimension indices


class CuboidIndex:
    """Per cuboid, the element code of every leaf, built incrementally layer by layer."""

    def __init__(self, leaves: LeafTable, max_layer: int) -> None:
        self.leaves = leaves
        self.max_layer = max_layer
        self._codes: dict[Cuboid, np.ndarray] = {}
        self._sizes: dict[Cuboid, int] = {}
        self._first_leaf: dict[Cuboid, np.ndarray] = {}
        self._by_element: dict[Cuboid, tuple[np.ndarray, np.ndarray]] = {}
        self._descendants: dict[Cuboid, list[Cuboid]] = {}
        self._projections: dict[tuple[Cuboid, Cuboid], np.ndarray] = {}

    def layers(self) -> Iterator[list[Cuboid]]:
        dims = range(len(self.leaves.dimensions))
        for layer in range(1, self.max_layer + 1):
            yield [tuple(c) for c in combinations(dims, layer)]

    def descendants(self, cuboid: Cuboid) -> list[Cuboid]:
        """The cuboids of more dimensions that include all of `cuboid`'s, layer by layer in the order
        of `layers`; kept, since the leaf-level search asks for them once per candidate."""
        if cuboid not in self._descendants:
            self._descendants[cuboid] = [finer for layer in self.layers() for finer in layer
                                         if len(finer) > len(cuboid) and set(cuboid) <= set(finer)]
        return self._descendants[cuboid]

    def codes(self, cuboid: Cuboid) -> np.ndarray:
        """Compact element code (0..size-1) of every leaf in `cuboid`."""
        if cuboid not in self._codes:
            last = self.leaves.codes[cuboid[-1]]
            if len(cuboid) == 1:
                raw = last
            else:
                width = int(last.max(initial=0)) + 1
                raw = self.codes(cuboid[:-1]) * width + last
            self._codes[cuboid], self._first_leaf[cuboid] = _compact(raw)
            self._sizes[cuboid] = len(self._first_leaf[cuboid])
        return self._codes[cuboid]

    def size(self, cuboid: Cuboid) -> int:
        self.codes(cuboid)
        return self._sizes[cuboid]

    def sums(self, cuboid: Cuboid, weights: np.ndarray) -> np.ndarray:
        """Sum of `weights` over the leaves of each element of `cuboid`."""
        return np.bincount(self.codes(cuboid), weights=weights, minlength=self.size(cuboid))

    def element(self, cuboid: Cuboid, code: int) -> dict[str, str]:
        """{dimension: value} of one element, dimensions in the declared order."""
        self.codes(cuboid)
        leaf = self._first_leaf[cuboid][code]
        table = self.leaves
        return {table.dimensions[d]: str(table.labels[d][table.codes[d][leaf]]) for d in cuboid}

    def representative_leaf(self, cuboid: Cuboid, code: int) -> int:
        """Index of one leaf of the element (any one: all share the element's values)."""
        self.codes(cuboid)
        return int(self._first_leaf[cuboid][code])

    def projection(self, cuboid: Cuboid, coarser: Cuboid) -> np.ndarray:
        """Per element of `cuboid`, the code of the element of `coarser` (a subset of its dimensions)
        that contains it: every leaf of an element shares its values, so one leaf says. Kept, since
        the leaf-level search asks for it on every pass over the cuboids."""
        if (cuboid, coarser) not in self._projections:
            self.codes(cuboid)
            self._projections[(cuboid, coarser)] = self.codes(coarser)[self._first_leaf[cuboid]]
        return self._projections[(cuboid, coarser)]

    def element_mask(self, cuboid: Cuboid, code: int) -> np.ndarray:
        return self.codes(cuboid) == code

    def element_leaves(self, cuboid: Cuboid, code: int) -> np.ndarray:
        """Indices of the element's leaves, ascending: the leaves `element_mask` selects, in the same
        order, so sums over them are the same floats. Found by one stable sort of the cuboid's codes,
        so an element costs its own size instead of a pass over every leaf of the cube."""
        if cuboid not in self._by_element:
            codes = self.codes(cuboid)
            order = _stable_order(codes, self.size(cuboid))
            starts = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=self.size(cuboid)))))
            self._by_element[cuboid] = order, starts
        order, starts = self._by_element[cuboid]
        return order[starts[code]:starts[code + 1]]


def parents(cuboid: Cuboid) -> Iterator[Cuboid]:
    """The cuboids with one dimension fewer (none for a layer-1 cuboid)."""
    if len(cuboid) > 1:
        yield from combinations(cuboid, len(cuboid) - 1)


def _stable_order(codes: np.ndarray, size: int) -> np.ndarray:
    """`np.argsort(codes, kind="stable")` for codes in 0..size-1, by a cheaper route where there is
    one: a stable order is unique, so any stable sort gives the same. With one leaf per code it is
    the inverse permutation; otherwise a least-significant-digit radix sort on 16-bit digits
    (numpy sorts 16-bit integers stably by radix sort, in linear time, where it merge-sorts 64-bit
    ones): by the low digit, then stably by the high one (Knuth, *TAOCP* vol. 3, section 5.2.5)."""
    if size == len(codes):
        order = np.empty(len(codes), dtype=np.int64)
        order[codes] = np.arange(len(codes))
        return order
    if size <= 1 << 16:
        return np.argsort(codes.astype(np.uint16), kind="stable")
    if size <= 1 << 32:
        order = np.argsort((codes & 0xFFFF).astype(np.uint16), kind="stable")
        return order[np.argsort((codes[order] >> 16).astype(np.uint16), kind="stable")]
    return np.argsort(codes, kind="stable")


def _compact(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber non-negative codes to 0..k-1; also one leaf index per new code."""
    span = int(raw.max(initial=-1)) + 1
    if span <= 4 * len(raw) + 1024:
        # Dense codes: a lookup table instead of a sort.
        present = np.zeros(span, dtype=bool)
        present[raw] = True
        renumber = np.cumsum(present) - 1
        inverse = renumber[raw]
        leaf = np.empty(int(present.sum()), dtype=np.int64)
        leaf[inverse] = np.arange(len(raw))
        return inverse, leaf
    _, leaf, inverse = np.unique(raw, return_index=True, return_inverse=True)
    return inverse.astype(np.int64), leaf
