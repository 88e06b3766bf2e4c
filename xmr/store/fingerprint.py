"""Content fingerprints of the files a dataset is read from, cheap enough to take on every run.

Re-use of stored work depends on the content of every input: a prepared dataset records the
fingerprint of its source folder (each file's path, size and sha256), and `xmr run` re-prepares
when it changes; feature-set keys carry the hashes of what each extractor reads. Hashing 270k
images on every run would be slow, so, as DVC's state database does, each file's sha256 is cached
by (path, size, mtime, inode) in a small SQLite file in the store and recomputed only when one
of those changes.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

from .files import sha256_file

CACHE_NAME = ".hashes.sqlite"  # a dot name: never indexed, never taken for a temporary


class HashCache:
    """sha256 of files, cached by (path, size, mtime_ns, inode) in ``<store>/.hashes.sqlite``."""

    def __init__(self, store_root: Path | str | None):
        self.path = Path(store_root) / CACHE_NAME if store_root is not None else None
        self._con: sqlite3.Connection | None = None

    def __enter__(self) -> "HashCache":
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = sqlite3.connect(self.path, timeout=60)
            self._con.execute("CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER,"
                              " mtime_ns INTEGER, inode INTEGER, sha256 TEXT)")
        return self

    def __exit__(self, *exc) -> None:
        if self._con is not None:
            self._con.commit()
            self._con.close()
            self._con = None

    def sha256(self, path: Path, st: os.stat_result | None = None) -> str:
        """The file's sha256, from the cache when its size, mtime and inode are unchanged
        (``st``: its stat, when the caller has it already)."""
        path = Path(path).resolve()
        st = st or path.stat()
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
        if self._con is not None:
            row = self._con.execute("SELECT size, mtime_ns, inode, sha256 FROM hashes WHERE path = ?",
                                    (str(path),)).fetchone()
            if row is not None and tuple(row[:3]) == stamp:
                return row[3]
        digest = sha256_file(path)
        if self._con is not None:
            self._con.execute("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)",
                              (str(path), *stamp, digest))
        return digest


def tree_files(root: Path) -> list[Path]:
    """Every regular file under ``root`` (or ``root`` itself), sorted, hidden names skipped."""
    root = Path(root)
    if root.is_file():
        return [root]
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    return out


def fingerprint_tree(root: Path, cache: HashCache) -> dict[str, object]:
    """``{"files": n, "bytes": total, "sha256": hash of every (relative path, sha256)}``."""
    root = Path(root)
    h = hashlib.sha256()
    n = total = 0
    for p in tree_files(root):
        rel = p.name if root.is_file() else p.relative_to(root).as_posix()
        st = p.stat()  # one stat per file: the cache key and the byte count
        h.update(f"{rel}\t{cache.sha256(p, st)}\n".encode())
        n += 1
        total += st.st_size
    return {"files": n, "bytes": total, "sha256": h.hexdigest()}
