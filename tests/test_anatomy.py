"""Anatomical plausibility checks on hand-drawn maps, and the corruptions that break them."""

import numpy as np
import pytest
import torch

from aekit.anatomy import (
    CORRUPTIONS,
    CRITERIA,
    LV,
    MYO,
    RV,
    check_slice,
    corrupt,
    is_plausible,
    plausibility_rate,
)


def draw(picture: str) -> np.ndarray:
    """A label map from rows of characters: '.' background, digits the labels."""
    rows = [line.strip() for line in picture.strip().splitlines()]
    return np.array([[0 if char == "." else int(char) for char in row] for row in rows])


VALID = draw("""
    ...........
    ....111....
    ...11111...
    ..2222222..
    ..2233322..
    ..2333332..
    ..2333332..
    ..2233322..
    ..2222222..
    ...........
""")


def failed(labels) -> set[str]:
    return {name for name, ok in check_slice(labels).items() if not ok}


def heart(size: int = 64, lv: float = 10, wall: float = 4, rv: float = 7) -> np.ndarray:
    """A plausible (size, size) map: LV disc, myocardial ring, RV crescent on the right."""
    rows, cols = np.mgrid[:size, :size] - (size - 1) / 2
    radius = np.hypot(rows, cols)
    labels = np.zeros((size, size), dtype=np.int64)
    labels[(radius < lv + wall + rv) & (radius >= lv + wall) & (cols > 2)] = RV
    labels[radius < lv + wall] = MYO
    labels[radius < lv] = LV
    return labels


def test_a_drawn_heart_meets_every_criterion():
    assert check_slice(VALID) == dict.fromkeys(CRITERIA, True)
    assert is_plausible(VALID) and is_plausible(heart())


def test_a_hole_in_the_lv_is_caught():
    labels = VALID.copy()
    labels[5, 5] = 0
    assert failed(labels) == {"lv_no_hole", "myo_closes_lv", "myo_no_hole"}


def test_a_myocardium_enclosing_background_is_caught():
    ring_without_lv = np.where(VALID == LV, 0, VALID)
    assert failed(ring_without_lv) == {"myo_no_hole"}


def test_a_hole_in_the_rv_is_caught():
    labels = heart()
    rv = np.argwhere(labels == RV)
    deep = [p for p in rv if (labels[p[0] - 1 : p[0] + 2, p[1] - 1 : p[1] + 2] == RV).all()]
    labels[tuple(deep[len(deep) // 2])] = 0
    assert failed(labels) == {"rv_no_hole"}


def test_a_gap_in_the_ring_lets_the_lv_touch_the_background():
    labels = VALID.copy()
    labels[5, 2] = 0  # the LV pixel at (5, 3) now shares an edge with background
    assert failed(labels) == {"myo_closes_lv"}


def test_lv_touching_rv_is_caught():
    labels = VALID.copy()
    labels[3, 5] = RV  # between the RV above and the LV below
    assert "lv_rv_apart" in failed(labels)


@pytest.mark.parametrize(
    "label, criterion", [(RV, "rv_one_piece"), (MYO, "myo_one_piece"), (LV, "lv_one_piece")]
)
def test_a_second_piece_of_a_structure_is_caught(label, criterion):
    labels = np.pad(VALID, ((0, 0), (0, 4)))
    labels[1, -2] = label
    assert criterion in failed(labels)


def test_pieces_touching_diagonally_count_as_one():
    labels = VALID.copy()
    labels[0, 7] = RV  # diagonal neighbour of the RV pixel at (1, 6)
    assert is_plausible(labels)


def test_a_ring_closed_only_diagonally_still_holds_the_lv():
    labels = draw("""
        .......
        ...2...
        ..232..
        .23332.
        ..232..
        ...2...
        .......
    """)
    assert is_plausible(labels)


def test_a_map_without_a_heart_is_not_plausible():
    assert failed(np.zeros((8, 8), dtype=int)) == {"heart_present"}
    assert plausibility_rate(np.zeros((5, 8, 8), dtype=int)) == 0.0
    assert plausibility_rate(np.stack([VALID, np.zeros_like(VALID)])) == 0.5


def test_missing_structures_are_allowed_but_an_lv_needs_its_myocardium():
    assert is_plausible(np.where(VALID == RV, RV, 0))  # RV only (a basal slice)
    assert is_plausible(np.where(VALID == RV, 0, VALID))  # no RV (an apical slice)
    assert is_plausible(heart(lv=0.5))  # myocardium only: the apex cap
    assert failed(np.where(VALID == LV, LV, 0)) == {"myo_closes_lv"}


def test_an_lv_on_the_image_border_touches_the_background():
    labels = VALID[3:, :].copy()
    labels[0, :] = np.where(labels[0] == MYO, LV, labels[0])
    assert "myo_closes_lv" in failed(labels)


def test_checks_accept_tensors_and_reject_bad_labels():
    assert is_plausible(torch.from_numpy(VALID))
    with pytest.raises(ValueError, match="0-3"):
        check_slice(VALID + 2)
    with pytest.raises(ValueError, match="one"):
        check_slice(np.stack([VALID, VALID]))


def test_plausibility_rate_is_the_fraction_of_plausible_maps():
    broken = VALID.copy()
    broken[5, 5] = 0
    maps = np.stack([VALID, VALID, VALID, broken])
    assert plausibility_rate(maps) == 0.75
    assert plausibility_rate(torch.from_numpy(maps)) == 0.75
    with pytest.raises(ValueError):
        plausibility_rate(np.zeros((0, 4, 4)))


# --- corruptions ----------------------------------------------------------------------------

HEARTS = np.stack(
    [
        heart(lv=lv, wall=wall, rv=rv)
        for lv, wall, rv in [(10, 4, 7), (6, 3, 0), (14, 5, 10), (4, 6, 5)]
    ]
)
SIGNATURES = {
    "holes": lambda bad: any(name.endswith("no_hole") for name in bad),
    "islands": lambda bad: any(name.endswith("one_piece") for name in bad),
    "broken_ring": lambda bad: "myo_closes_lv" in bad,
    "missing_structure": lambda bad: bad & {"myo_closes_lv", "myo_no_hole"},
}


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_each_corruption_makes_plausible_maps_implausible_in_its_own_way(kind):
    assert plausibility_rate(HEARTS) == 1.0
    corrupted = corrupt(HEARTS, kind, np.random.default_rng(0))
    assert plausibility_rate(corrupted) == 0.0
    for labels in corrupted:
        assert SIGNATURES[kind](failed(labels)), (kind, failed(labels))


def test_mixed_draws_a_mistake_per_map_and_all_are_implausible():
    maps = np.repeat(HEARTS, 8, axis=0)
    corrupted = corrupt(maps, "mixed", np.random.default_rng(1))
    assert plausibility_rate(corrupted) == 0.0


def test_a_map_that_cannot_take_the_mistake_gets_an_island():
    rv_only = np.where(heart() == RV, RV, 0)
    empty = np.zeros_like(rv_only)
    for kind in ("broken_ring", "missing_structure", "holes"):
        corrupted = corrupt(np.stack([rv_only, empty]), kind, np.random.default_rng(2))
        assert plausibility_rate(corrupted) == 0.0


def test_corruptions_are_seeded_and_keep_type_dtype_and_input():
    original = HEARTS.copy()
    first = corrupt(HEARTS, "mixed", np.random.default_rng(5))
    assert np.array_equal(first, corrupt(HEARTS, "mixed", np.random.default_rng(5)))
    assert np.array_equal(HEARTS, original) and first.dtype == HEARTS.dtype
    tensors = torch.from_numpy(HEARTS).to(torch.uint8)
    a = corrupt(tensors, "holes", torch.Generator().manual_seed(3))
    b = corrupt(tensors, "holes", torch.Generator().manual_seed(3))
    assert isinstance(a, torch.Tensor) and a.dtype == torch.uint8 and torch.equal(a, b)
    single = corrupt(HEARTS[0], "islands", np.random.default_rng(0))
    assert single.shape == HEARTS[0].shape and not is_plausible(single)


def test_corrupt_rejects_an_unknown_kind_or_generator():
    with pytest.raises(ValueError, match="kind"):
        corrupt(HEARTS, "smudge", np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        corrupt(HEARTS, "holes", 0)
