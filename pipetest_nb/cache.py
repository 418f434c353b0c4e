"""The step cache: reuse a step's outputs when its script, config and input contents are unchanged.

The key hashes contents, never mtimes: a ``touch`` does not invalidate, an edit does. Entries live
in ``<workspace>/cache/<key>/`` (``entry.json`` plus ``outputs/<name>/``). Files are hard-linked
between runs and the cache where the filesystem allows, so caching costs no copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from .workspace import atomic_write_json

_CHUNK = 1 << 20


def hash_file(path: Path, digest: Any) -> None:
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)


def hash_tree(path: Path, digest: Any) -> None:
    """Feed a file, or every file under a folder (relative names and contents, in sorted order)."""
    path = Path(path)
    if path.is_file():
        digest.update(b"F")
        hash_file(path, digest)
        return
    if not path.exists():
        digest.update(b"missing")
        return
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = Path(root) / name
            digest.update(os.path.relpath(full, path).encode() + b"\0")
            hash_file(full, digest)
            digest.update(b"\0")


def cache_key(script: Path, config: dict[str, Any], inputs: dict[str, Path]) -> str:
    """Hash of the script's content, the step's config (name, mode, env, args) and its inputs' contents."""
    digest = hashlib.sha256()
    hash_file(Path(script), digest)
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for name in sorted(inputs):
        digest.update(f"\0input:{name}\0".encode())
        hash_tree(inputs[name], digest)
    return digest.hexdigest()[:32]


def link_tree(src: Path, dst: Path) -> None:
    """Make ``dst`` a copy of folder ``src``, hard-linking files when possible."""
    dst.mkdir(parents=True, exist_ok=True)
    for root, dirs, files in os.walk(src):
        target_root = dst / os.path.relpath(root, src)
        for d in dirs:
            (target_root / d).mkdir(exist_ok=True)
        for name in files:
            source, target = Path(root) / name, target_root / name
            if target.exists():
                target.unlink()
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)


class StepCache:
    """Stores and finds step outputs by key."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def get(self, key: str) -> dict[str, Any] | None:
        entry = self.root / key / "entry.json"
        try:
            data = json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        data["path"] = str(self.root / key)
        return data

    def put(self, key: str, pipeline: str, step: str, run_id: str, outputs: dict[str, Path]) -> None:
        """Keep a step's outputs under ``key``; a crash halfway leaves no entry (entry.json is last)."""
        folder = self.root / key
        if (folder / "entry.json").exists():
            return
        tmp = self.root / f".{key}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name, path in outputs.items():
            link_tree(Path(path), tmp / "outputs" / name)
        atomic_write_json(tmp / "entry.json",
                          {"key": key, "pipeline": pipeline, "step": step, "run_id": run_id,
                           "outputs": sorted(outputs), "created_at": time.time()})
        try:
            os.replace(tmp, folder)
        except OSError:  # another writer got there first
            shutil.rmtree(tmp, ignore_errors=True)

    def restore(self, entry: dict[str, Any], outputs: dict[str, Path]) -> None:
        """Fill a run's output folders from a cache entry."""
        for name, path in outputs.items():
            src = Path(entry["path"]) / "outputs" / name
            if src.exists():
                link_tree(src, Path(path))

    def latest_for(self, pipeline: str, step: str) -> dict[str, Any] | None:
        """The newest entry of a step, whatever its key: for ``use_cached_output`` after a failure."""
        best = None
        if not self.root.is_dir():
            return None
        for folder in self.root.iterdir():
            with contextlib.suppress(OSError, ValueError):
                data = json.loads((folder / "entry.json").read_text(encoding="utf-8"))
                if data.get("pipeline") == pipeline and data.get("step") == step and (
                        best is None or data["created_at"] > best["created_at"]):
                    best = {**data, "path": str(folder)}
        return best
