"""Helpers for fault and file-safety tests: directory snapshots, small mounts."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """name -> (mode, sha256 or link target) for everything under `root`."""
    out: dict[str, tuple[int, str]] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if path.is_symlink():
                digest = "->" + os.readlink(path)
            elif path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                digest = "dir"
            out[str(path.relative_to(root))] = (st.st_mode, digest)
    return out


def store_auths(store: Path) -> dict[str, object]:
    """The parsed `auths` of a store file; fails the test if it does not parse."""
    doc = json.loads(store.read_bytes())
    assert doc.get("version") in (1, 2), "store lost its format version"
    auths = doc["auths"]
    assert isinstance(auths, dict)
    return auths


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


def _mount(args: list[str]) -> bool:
    proc = subprocess.run(["mount", *args], capture_output=True, timeout=30, check=False)
    return proc.returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30, check=False)


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at `path` (root with mount rights only; skips otherwise)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not _mount(
        ["-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)]
    ):
        pytest.skip("cannot mount a tmpfs here (needs root and mount rights, as in CI)")
    try:
        yield path
    finally:
        _umount(path)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """Make `path` a read-only bind mount of itself (EROFS even for root)."""
    if os.geteuid() != 0 or not _mount(["--bind", str(path), str(path)]):
        pytest.skip("cannot bind-mount here (needs root and mount rights, as in CI)")
    try:
        if not _mount(["-o", "remount,ro,bind", str(path)]):
            pytest.skip("cannot remount read-only here")
        yield path
    finally:
        _umount(path)
