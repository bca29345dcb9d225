"""BuildError: the one-line, file-and-line-naming message a failed build stops with (exit code 2)."""
from __future__ import annotations

from pathlib import Path


class BuildError(Exception):
    """Bad input; str() is one line: `file:line: message` (line and file optional)."""

    def __init__(self, message: str, file: str | Path | None = None, line: int | None = None):
        self.message, self.file, self.line = " ".join(str(message).split()), file, line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = "" if self.file is None else f"{display_path(self.file)}{'' if self.line is None else f':{self.line}'}: "
        return where + self.message


def display_path(path: str | Path) -> str:
    """Return path relative to the working directory when it lies inside it, else as given."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def line_of(text: str, needle: str, default: int | None = None) -> int | None:
    """Return the 1-based line of needle's first occurrence in text, or default when absent."""
    i = text.find(needle)
    return default if i < 0 else text.count("\n", 0, i) + 1
