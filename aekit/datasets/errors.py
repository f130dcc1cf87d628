"""The one exception data code raises, with a message that says what to do."""


class DataError(RuntimeError):
    """A data set is missing or damaged; the message says what to put where.

    In a notebook IPython shows only the message (``_render_traceback_``), not a traceback:
    the student needs the instructions, not our call stack.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"DataError: {self}"]


def one_line(error: BaseException) -> str:
    """``Type: message`` on one line, cut to 200 characters, for messages about bad files."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:200]}"
