"""What every writer of reports needs, without torch: files written whole or not at all, and a
teaching message as HTML (escaped, cut, with `code` in backticks shown as code).

The class report and the command line import this where importing :mod:`autograder.report`
would import torch (through the engine) for nothing.
"""

import html
import json
import re
from pathlib import Path

MESSAGE_CHARS = 600  # of one message in a page or a results.json


def write_whole(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a hidden partial file, so that a reader sees either
    the old file or the new one, never half of one."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def write_json(path: Path, found) -> None:
    write_whole(path, json.dumps(found, indent=2, ensure_ascii=False) + "\n")


def cut(text: str, limit: int = MESSAGE_CHARS) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rich(text: str) -> str:
    """A message as HTML: escaped, cut, with `code` in backticks shown as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(cut(text)))


def printable(text: str) -> str:
    """``text`` with every control and format character written as its escape (``\\x1b``,
    ``\\u202e``), as ``ls -b`` writes file names: a student's file name or message on the
    instructor's terminal or in a CSV never moves the cursor, retitles the window, writes the
    clipboard or reorders the text around it."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def spreadsheet_text(text: str) -> str:
    """Text a spreadsheet shows as text, never runs as a formula (OWASP's CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
