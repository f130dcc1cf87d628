"""The course notebooks' IPython extension: ``%load_ext aekit.notebook``.

A cell that uses exercises names them in a comment on its first line (more such lines may
follow when the list is long)::

    # needs: make_encoder, make_decoder, autoencoder_forward
    encoder, decoder = make_encoder(latent_dim=32), make_decoder(latent_dim=32)
    ...

and runs only when they pass their public checks. Otherwise it says which exercises are not
done and is skipped without an error, so Run All on a half-finished notebook goes on to every
exercise's check cell instead of stopping at the first unfinished one. While nbgrader executes
the notebook (``NBGRADER_EXECUTION``: validate or autograde) the cell always runs, as it would
without the extension. The comment keeps the cell plain Python: the linter, the grader and a
kernel without the extension read it as the code it is.
"""

import ast
import contextlib
import io
import os
import re
from typing import Any

import torch
from IPython.core.displayhook import DisplayHook

from aekit.checks import public_checks
from aekit.checks.core import run_in_process

NEEDS = re.compile(r"#\s*needs:(.*)")


def load_ipython_extension(ipython) -> None:
    ipython.register_magic_function(needs, magic_kind="cell")
    if needs_comment not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(needs_comment)


def needs_comment(lines: list[str]) -> list[str]:
    """IPython input transformer: a cell whose first lines are ``# needs:`` comments runs as
    ``%%needs NAME ...`` (the comments become ``pass``, so line numbers stay the cell's)."""
    names, count = [], 0
    for line in lines:
        found = NEEDS.fullmatch(line.strip())
        if found is None:
            break
        names += [name for name in re.split(r"[,\s]+", found.group(1)) if name]
        count += 1
    if not count:
        return lines
    return [f"%%needs {' '.join(names)}\n", *["pass\n"] * count, *lines[count:]]


def needs(line: str, cell: str) -> Any:
    """``%%needs EXERCISE ...``: run the cell when every named exercise passes its public
    checks (always, under nbgrader); otherwise say why it is skipped."""
    from IPython import get_ipython

    shell = get_ipython()
    exercises = line.split()
    if not os.environ.get("NBGRADER_EXECUTION"):
        unfinished = [name for name in exercises if not passes(name, shell.user_ns)]
        if unfinished:
            print(skipped(unfinished))
            return None
    return run_cell_body(shell, cell)


def skipped(unfinished: list[str]) -> str:
    """The note a skipped cell prints, naming the exercises it waits for."""
    names = [f"`{name}`" for name in unfinished]
    if len(names) == 1:
        return (
            f"Skipped: this cell needs {names[0]}, which does not pass its public checks yet. "
            "Finish it (its check cell above says what is wrong), then run this cell again."
        )
    listed = f"{', '.join(names[:-1])} and {names[-1]}"
    return (
        f"Skipped: this cell needs {listed}, which do not pass their public checks yet. Finish "
        "them (their check cells above say what is wrong), then run this cell again."
    )


def passes(exercise: str, namespace: dict) -> bool:
    """Whether ``exercise`` passes its public checks, run quietly and leaving torch's random
    state as it was (the cell's training then draws what it would have drawn anyway)."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices), contextlib.redirect_stdout(io.StringIO()):
        results = run_in_process(public_checks(exercise), namespace)
    return all(result.verdict.passed for result in results)


def run_cell_body(shell, cell: str) -> Any:
    """Run ``cell`` in the notebook's namespace as a cell of its own would run: IPython
    syntax allowed, errors raised with their traceback, the last expression's value returned
    (the magic's value is what the cell shows)."""
    source = shell.transform_cell(cell)
    filename = shell.compile.cache(source)  # tracebacks quote the cell's lines
    tree = ast.parse(source, filename)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, filename, "exec"), shell.user_ns)  # noqa: S102 - the student's own cell
    if last is None:
        return None
    expression = compile(ast.Expression(last.value), filename, "eval")
    value = eval(expression, shell.user_ns)  # noqa: S307
    quiet = DisplayHook.semicolon_at_end_of_expression(source)  # ";" silences it, as anywhere
    return None if quiet else value
