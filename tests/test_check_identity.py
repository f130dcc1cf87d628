"""A check's identity is its id, not its title: ids are unique and well formed, and rewording
a title changes nothing a check draws or observes."""

import copy

import pytest
import torch

from aekit.checks.core import CHECK_ID, Bench, Check, identified, run_probe
from autograder.assignments import ASSIGNMENTS, get_assignment
from autograder.loader import read_cells
from autograder.reference import load_quietly


class Probe(Check):
    exercise = "kl_divergence"

    def __init__(self, title: str):
        self.title = title


@pytest.mark.parametrize("name", list(ASSIGNMENTS))
def test_every_check_has_a_well_formed_id_of_its_own_in_its_assignment(name):
    ids = [check.id for check in get_assignment(name).checks]
    assert all(CHECK_ID.fullmatch(found) for found in ids), ids
    assert len(set(ids)) == len(ids), sorted(found for found in ids if ids.count(found) > 1)


def test_a_malformed_shared_or_second_id_is_refused():
    first, second = Probe("one"), Probe("two")
    with pytest.raises(ValueError, match="kebab-case"):
        identified({"Not_Kebab": first})
    with pytest.raises(ValueError, match="share the id 'kl-one'"):
        identified({"kl-one": first}, {"kl-one": second})
    listed = identified({"kl-one": first})
    assert listed == [first] and first.id == "kl-one"
    with pytest.raises(ValueError, match="share the id 'kl-one'"):
        identified({"kl-one": second}, beside=listed)
    with pytest.raises(ValueError, match="has the id 'kl-one', not 'kl-two'"):
        identified({"kl-two": first})


def test_the_seed_comes_from_the_id_alone():
    check = identified({"kl-seeded": Probe("draws one thing")})[0]
    reworded = copy.copy(check)
    reworded.title = "draws one thing, said otherwise"
    assert reworded.name != check.name and reworded.seed == check.seed
    draws = [Bench({}, c, "cpu").randn(16) for c in (check, reworded)]
    assert torch.equal(*draws)
    other = identified({"kl-other": Probe("draws one thing")})[0]
    assert not torch.equal(draws[0], Bench({}, other, "cpu").randn(16))


def observations_equal(first, second) -> bool:
    if isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor):
        return first.dtype == second.dtype and torch.equal(first.nan_to_num(), second.nan_to_num())
    if isinstance(first, dict) and isinstance(second, dict):
        return first.keys() == second.keys() and all(
            observations_equal(first[key], second[key]) for key in first
        )
    if isinstance(first, list | tuple) and isinstance(second, list | tuple):
        return len(first) == len(second) and all(map(observations_equal, first, second))
    return first == second


@pytest.mark.parametrize("name", list(ASSIGNMENTS))
def test_rewording_a_title_changes_no_input_of_any_check(name):
    """Every probe, run on the solution under its title and under a reworded one, observes the
    same: the same inputs, drawn from the same seed (the notebook's RNG state held equal)."""
    assignment = get_assignment(name)
    solution = load_quietly(read_cells(assignment.notebook))
    for check in assignment.checks:
        reworded = copy.copy(check)
        reworded.title = f"{check.title} (reworded)"
        seen = []
        for version in (check, reworded):
            torch.manual_seed(0)
            seen.append(run_probe(version, solution))
        assert seen[0][0] == "observed", (check.name, seen[0])
        assert observations_equal(*seen), check.name
