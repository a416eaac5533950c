"""How the owner's operations tell a person what is happening, without knowing how it is shown.

``albums.py`` and ``links.py`` say what happens (a note, a warning, bytes done); the
command line (``cli.py``) decides that it goes to stderr, with click's progress bars,
so stdout keeps only what scripts read (links and listings). ``Quiet`` drops it all,
for callers that want none of it. ``one_line`` and ``quoted`` shape untrusted text for
those messages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

from .disk import clean_text


class Bar(Protocol):
    """A progress bar over bytes that names the current file."""

    def update(self, n_steps: int, current_item: Any = None) -> None: ...


class Report(Protocol):
    def note(self, message: str) -> None:
        """A line for the person about what happens."""

    def warn(self, message: str) -> None:
        """Something the person should know went wrong or was skipped; the work goes on."""

    def progress(self, total: int, label: str) -> AbstractContextManager[Bar]:
        """A bar over `total` bytes, for the length of a `with` block."""


def naming(bar: Bar, name: str) -> Callable[[int], None]:
    """A progress callback that advances `bar` by its bytes and shows `name`."""
    return lambda n: bar.update(n, name)


class _NoBar:
    def update(self, n_steps: int, current_item: Any = None) -> None:
        pass


class Quiet:
    """A Report that shows nothing."""

    def note(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    @contextlib.contextmanager
    def progress(self, total: int, label: str) -> Iterator[Bar]:
        yield _NoBar()


def one_line(text: str, limit: int = 300) -> str:
    """Squash whitespace so an error stays on its one line."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(title: str) -> str:
    """A title as messages show it: 'Lyon'."""
    return f"'{clean_text(title)}'"
