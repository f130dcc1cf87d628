"""Similar submissions: pairs of students whose own code is near-identical, for a human to look at.

A flag is a reason to open two notebooks side by side, never a penalty: students who wrote the
same short, canonical solution independently can look alike, and only a person can tell.

How pairs are found, with copydetect's winnowing fingerprints (the MOSS algorithm, Schleimer,
Wilkerson and Aiken, SIGMOD 2003):

- A student's **own code** is the concatenation of their solution code cells (answers.json
  ``code``, by grade_id) that differ from the starter the release notebook gives; an untouched
  cell is left out whole. copydetect then normalises it (every variable, function and class name
  becomes one letter, strings one letter, comments and whitespace vanish), so renaming,
  reformatting and rewording comments change nothing.
- Fingerprints are the hashes of every 25-character k-gram of that normalised code (copydetect's
  default noise threshold, window 1). The starter's fingerprints are boilerplate and dropped.
- A passage found in more than ``COMMON`` submissions is taken for common code and dropped too:
  this is MOSS's ``-m`` option with its default of 10 ("a passage of code that appears in many
  programs is probably legitimate sharing"). In a large class the canonical solution of a short
  exercise is everyone's, so it says nothing; in a class of ten or fewer nothing is common, and
  two complete, correct notebooks may well be flagged: look, and expect to find nothing.
- A student with less than ``MIN_SHARED`` characters of own code left (an untouched notebook, a
  notebook of canonical solutions only) is never flagged: there is nothing of theirs to compare.
- For each pair, copydetect's ``compare_files`` gives the share of each student's own code found
  in the other's. The pair's similarity is the larger share (one student's code may be all
  copied while the other wrote more besides), and the pair is flagged when it reaches the
  threshold with at least ``MIN_SHARED`` characters in common.

The default threshold, 0.8, sits between what was measured on the course's notebooks (see
tests/test_class_report.py): a copy with renamed variables, new comments and another layout
scores 1.0, and so does the solution with three typical mistakes against the solution; two
correct solutions written in different styles score 0.40 (0.22 the other way), all of it from
the two exercises they solve alike. A copy rewritten in part falls in between: lower the
threshold (0.6) to see those too, at the price of more pairs to look at. The threshold and the
minimum of own code are the instructor's knobs; the common-code cut-off is not, since it only
matters in classes larger than ten.
"""

import io
from dataclasses import dataclass

THRESHOLD = 0.8  # the larger of the two shares of own code in common that flags a pair
K = 25  # k-gram length in characters of normalised code (copydetect's noise threshold)
WINDOW = 1  # winnowing window: 1 keeps every k-gram (copydetect's default, guarantee = noise)
MIN_SHARED = 150  # characters of normalised code in common, and of own code, to flag (~5 lines)
COMMON = 10  # a passage in more submissions than this is common code (MOSS's -m default)


@dataclass(frozen=True)
class Pair:
    """Two students whose own code is near-identical."""

    first: str
    second: str
    similarity: float  # the larger of the two shares
    shares: tuple[float, float]  # share of each one's own code that the other's holds
    shared: int  # characters of normalised code in common


@dataclass(frozen=True)
class Similarity:
    """The flagged pairs, best first, and what the comparison covered."""

    pairs: list[Pair]
    threshold: float
    compared: list[str]  # students with enough own code to compare
    too_little: list[str]  # students with less than MIN_SHARED characters of own code
    common: int  # fingerprints dropped as common code


def own_code(code: dict[str, str], starter: dict[str, str]) -> str:
    """The student's solution cells that differ from the starter, in grade_id order, without
    the lines the starter holds, whatever their spacing (signatures, docstrings, the stub).

    Those lines are boilerplate, dropped from the fingerprints anyway; leaving them out before
    copydetect tokenises the code halves the time it takes (tokenising is most of the cost).
    """
    given = {_bare(line) for source in starter.values() for line in source.splitlines()}
    cells = [
        "\n".join(line for line in source.splitlines() if _bare(line) not in given)
        for grade_id, source in sorted(code.items())
        if isinstance(source, str) and source.strip() != starter.get(grade_id, "").strip()
    ]
    return "\n\n".join(cells)


def _bare(line: str) -> str:
    return "".join(line.split())


def find_similar(
    codes: dict[str, dict[str, str]], starter: dict[str, str], threshold: float = THRESHOLD
) -> Similarity:
    """Pairs of students (``codes``: student → grade_id → solution cell source) whose own code
    is near-identical, the ``starter`` (grade_id → release cell) excluded as boilerplate."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"the similarity threshold must be in [0, 1], not {threshold}")
    boilerplate = _fingerprint("starter", "\n\n".join(starter.values()), set()).hashes
    prints = {
        student: _fingerprint(student, own_code(code, starter), boilerplate)
        for student, code in sorted(codes.items())
    }
    common = _common(prints.values())
    if common:
        prints = {name: _without(found, boilerplate | common) for name, found in prints.items()}
    compared = [student for student, found in prints.items() if found.token_coverage >= MIN_SHARED]
    pairs = [
        pair
        for index, first in enumerate(compared)
        for second in compared[index + 1 :]
        if (pair := _compare(first, second, prints, threshold)) is not None
    ]
    pairs.sort(key=lambda pair: (-pair.similarity, pair.first, pair.second))
    too_little = [student for student in prints if student not in compared]
    return Similarity(pairs, threshold, compared, too_little, len(common))


def _fingerprint(name: str, code: str, boilerplate: set[int]):
    """copydetect's fingerprint of ``code`` read as Python, ``boilerplate`` hashes dropped."""
    from copydetect import CodeFingerprint

    return CodeFingerprint(
        f"{name}.py", K, WINDOW, _array(boilerplate), language="python", fp=io.StringIO(code)
    )


def _without(found, dropped: set[int]):
    """``found`` fingerprinted again without the ``dropped`` hashes, from its normalised code
    (``filter=False``: it is normalised already, so it is not tokenised twice)."""
    from copydetect import CodeFingerprint

    code = io.StringIO(found.filtered_code)
    return CodeFingerprint(found.filename, K, WINDOW, _array(dropped), filter=False, fp=code)


def _array(hashes: set[int]):
    """Boilerplate as copydetect wants it: a sorted array of unique hashes."""
    import numpy as np

    return np.array(sorted(hashes), dtype=np.int64)


def _common(prints) -> set[int]:
    """Fingerprints found in more than COMMON submissions."""
    counts: dict[int, int] = {}
    for found in prints:
        for value in found.hashes:
            counts[value] = counts.get(value, 0) + 1
    return {value for value, count in counts.items() if count > COMMON}


def _compare(first: str, second: str, prints: dict, threshold: float) -> Pair | None:
    """The pair when its similarity reaches ``threshold``; a cheap bound skips most pairs."""
    from copydetect import compare_files

    a, b = prints[first], prints[second]
    # compare_files costs about a millisecond; a pair sharing too few fingerprints to cover
    # MIN_SHARED characters (each covers K) cannot be flagged, and most pairs are such.
    if len(a.hashes & b.hashes) * K < MIN_SHARED:
        return None
    shared, shares, _ = compare_files(a, b)
    shares = (float(shares[0]), float(shares[1]))
    if shared < MIN_SHARED or max(shares) < threshold:
        return None
    return Pair(first, second, round(max(shares), 3), shares, int(shared))
