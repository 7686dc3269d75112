"""Atomic file output: a file appears at its target path complete or not at all.

Every file clvmodels writes (the per-customer export, the HTML report, the
backtest and report tables, saved models and their posteriors, the CLI's
summary) goes through :func:`atomic_paths`: the writer writes to a temporary
name in the target folder (``.<name>.<random>.tmp<suffix>``), and only when every
file of the group is complete are they renamed to their targets
(``os.replace``, atomic on one file system). If the writer fails, the temporary
files are removed and an existing file at the target is left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_paths", "temporary_name", "write_text"]


def temporary_name(path: Path) -> Path:
    """A fresh hidden name beside ``path`` that keeps its suffix (writers look at it)."""
    return path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike) -> Iterator[list[Path]]:
    """Temporary paths to write ``paths`` to; renamed to them when the block succeeds.

    The target folders are created if needed. On any exception in the block
    (including ``KeyboardInterrupt``) the temporary files are removed and the
    exception propagates; no target is touched.

    Examples
    --------
    >>> with atomic_paths("out/clv.csv") as (tmp,):   # doctest: +SKIP
    ...     frame.to_csv(tmp)
    """
    targets = [Path(p) for p in paths]
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    temps = [temporary_name(t) for t in targets]
    try:
        yield temps
        for temp, target in zip(temps, targets):
            os.replace(temp, target)
    except BaseException:
        for temp in temps:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """:func:`atomic_paths` for one file: yields the temporary path."""
    with atomic_paths(path) as (temp,):
        yield temp


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; return the path."""
    with atomic_path(path) as temp:
        temp.write_text(text, encoding=encoding)
    return Path(path)
