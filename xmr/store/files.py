"""Atomic writes: everything is written to a temporary sibling, then renamed into place.

A crash or Ctrl-C mid-write leaves only a `.tmp-*` folder or file, never a half-written output.
A temporary's name carries the id of the process writing it (`.tmp-<name>-<pid>-<random>`), so the
next command that touches the store removes exactly the temporaries of processes that are gone,
and never those of a run still going on beside it. Nothing reads a temporary: the catalog and
every loader skip names that start with a dot.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq


_TMP_RE = re.compile(r"^\.tmp-.*-(\d+)-[0-9a-f]{8}$")
_SAFE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def check_component(name: str, what: str) -> str:
    """``name`` if it is a safe single path component (letters, digits, ``_ . -``, not starting
    with a dot or dash, at most 128 characters); otherwise a ValueError naming ``what``."""
    if not isinstance(name, str) or not _SAFE_RE.match(name) or len(name) > 128:
        raise ValueError(f"{what} {name!r} is not a safe name: use letters, digits, '_', '.' and "
                         "'-', starting with a letter, digit or '_' (it becomes a folder name)")
    return name


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".tmp-{path.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_temporary(path: Path) -> bool:
    return path.name.startswith(".tmp-")


def remove_stale_temporaries(folder: Path, depth: int = 0) -> list[Path]:
    """Remove the temporaries in ``folder`` (and ``depth`` levels below) whose writing process is
    gone; a temporary without a process id (an older layout) counts as gone. Returns them."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for p in sorted(folder.iterdir()):
        if is_temporary(p):
            m = _TMP_RE.match(p.name)
            if m and pid_alive(int(m.group(1))):
                continue
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
            removed.append(p)
        elif depth > 0 and p.is_dir() and not p.is_symlink() and not p.name.endswith(".zarr"):
            removed += remove_stale_temporaries(p, depth - 1)
    return removed


def _replace(tmp: Path, path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        old = _tmp_sibling(path)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``path`` whole, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _replace(tmp, path)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def write_table(path: str | Path, table: pa.Table) -> None:
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)


def read_table(path: str | Path) -> pa.Table:
    return pq.read_table(path)


def sha256_file(path: str | Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def stable_hash(obj: Any, length: int = 8) -> str:
    """Short content hash of a JSON-able object (key order does not matter)."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]
