"""The step cache: reuse a step's outputs when its script, config and input contents are unchanged.

The key hashes contents, never mtimes: a ``touch`` does not invalidate, an edit does. Entries live
in ``<workspace>/cache/<key>/`` (``entry.json`` plus ``outputs/<name>/``).

Entries are immutable: files are *copied* in and out (a reflink where the filesystem has one, else
an in-kernel copy), never hard-linked, so a step that edits a restored file, or a consumer that
edits its input in place, edits its own copy and not the entry. Entry files are read-only, and
``entry.json`` keeps each file's size and SHA-256: a restore verifies them first, and an entry that
does not match is dropped (its caller warns and runs the step). Copies were chosen over read-only
hard links plus verification because permission bits do not stop a step running as root, so a
shared inode would still be poisoned, only later detected. Hashes are computed once per file
version: a digest is remembered by (device, inode, size, mtime, ctime), so the hash of a step's
outputs taken when they are cached, or when a restore verifies them, is the one the consumer's key
uses.

Symbolic links are stored as links (their target text), never followed out of the run folder,
and special files (FIFOs, devices, sockets) are refused, so nothing here can block on a read;
hashing a step's inputs has a time limit (``HASH_TIME_LIMIT``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any

from pipetest_nb.files import NotRegularFile, display_path, open_regular, special_kind, walk_tree
from pipetest_nb.records.writer import atomic_write_json

_CHUNK = 1 << 20
#: Seconds one cache key may spend hashing a step's inputs; beyond it the step runs uncached.
HASH_TIME_LIMIT = 300.0
#: The entry layout this module writes and trusts (older entries were hard links: never restored).
ENTRY_FORMAT = 2
#: A digest is remembered only for files last modified this long before hashing began: a write
#: within the same timestamp tick could otherwise leave size and mtime unchanged.
_RACY_NS = 100_000_000
_MEMO_MAX = 200_000
_digests: dict[tuple[int, ...], str] = {}
_FICLONE = 0x40049409


class CacheUnavailable(Exception):  # noqa: N818 - a condition, not a failure of the step
    """The cache cannot be used for this step (a special file, a time limit, a damaged entry): run it."""


def _open_regular(path: str | os.PathLike) -> Any:
    """``files.open_regular``, a special file being a reason not to cache rather than an error."""
    try:
        return open_regular(path)
    except NotRegularFile as exc:
        raise CacheUnavailable(str(exc)) from None


class Deadline:
    """A time limit that long loops check between chunks of work."""

    def __init__(self, seconds: float | None, what: str):
        self.what = what
        self.seconds = seconds
        self.at = None if seconds is None else time.monotonic() + seconds

    def check(self) -> None:
        if self.at is not None and time.monotonic() > self.at:
            raise CacheUnavailable(f"{self.what} took longer than {self.seconds:g} s "
                                   "(pipetest_nb.records.cache.HASH_TIME_LIMIT)")


def file_digest(path: str | os.PathLike, deadline: Deadline | None = None) -> str:
    """SHA-256 of a regular file, computed once per version of the file (see the module docstring)."""
    with _open_regular(path) as fh:
        st = os.fstat(fh.fileno())
        memo_key = _memo_key(st)
        known = _digests.get(memo_key)
        if known is not None:
            return known
        started = time.time_ns()
        digest = hashlib.sha256()
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            if deadline is not None:
                deadline.check()
    value = digest.hexdigest()
    remember_digest(memo_key, value, started)
    return value


def _memo_key(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def remember_digest(memo_key: tuple[int, ...], value: str, hashed_at_ns: int) -> None:
    """Keep a digest unless the file was modified so recently that a write could hide from its mtime."""
    if hashed_at_ns - memo_key[3] > _RACY_NS:
        if len(_digests) >= _MEMO_MAX:
            _digests.clear()
        _digests[memo_key] = value


def _inside(path: str, root: str | None) -> bool:
    return root is not None and (path == root or path.startswith(root.rstrip(os.sep) + os.sep))


def hash_tree(path: Path, digest: Any, *, boundary: str | os.PathLike | None = None,
              deadline: Deadline | None = None) -> None:
    """Feed a file, or every file under a folder (relative names and content digests, in sorted order).

    A symlink inside the tree is hashed by its content when it resolves to a regular file inside
    ``boundary`` (the run folder; no boundary: anywhere), else by its target text and the size and
    mtime of what it points to: links are never read through out of the run folder. A special
    file, or a link to one, raises ``CacheUnavailable``.
    """
    path = Path(path)
    real_boundary = os.path.realpath(boundary) if boundary is not None else None
    try:
        st = path.stat()
    except OSError:
        digest.update(b"missing")
        return
    if stat.S_ISREG(st.st_mode):
        digest.update(b"F" + file_digest(path, deadline).encode())
        return
    if not stat.S_ISDIR(st.st_mode):
        raise CacheUnavailable(f"{display_path(path)} is a {special_kind(st.st_mode) or 'special file'}")
    for rel, entry in walk_tree(path):
        if deadline is not None:
            deadline.check()
        name = os.fsencode(rel) + b"\0"
        if entry.is_dir(follow_symlinks=False):
            continue
        if entry.is_symlink():
            target = os.readlink(entry.path)
            real = os.path.realpath(entry.path)
            if real_boundary is None or _inside(real, real_boundary):
                with contextlib.suppress(OSError):
                    mode = os.stat(real).st_mode
                    if stat.S_ISREG(mode):
                        digest.update(name + b"F" + file_digest(real, deadline).encode() + b"\0")
                        continue
                    if special_kind(mode):
                        raise CacheUnavailable(f"{display_path(entry.path)} links to a {special_kind(mode)} "
                                               f"({display_path(target)})")
            digest.update(name + b"L" + os.fsencode(target) + b"\0" + _outside_stamp(entry.path))
            continue
        mode = entry.stat(follow_symlinks=False).st_mode
        if not stat.S_ISREG(mode):
            raise CacheUnavailable(f"{display_path(entry.path)} is a {special_kind(mode) or 'special file'}")
        digest.update(name + b"F" + file_digest(entry.path, deadline).encode() + b"\0")


def _outside_stamp(link: str) -> bytes:
    """Size and mtime of what a link outside the run points to (stat only, never opened): when that
    file changes, so does the key of the step that reads through the link."""
    try:
        st = os.stat(link)
    except OSError:
        return b"dangling"
    kind = special_kind(st.st_mode)
    if kind:
        raise CacheUnavailable(f"{display_path(link)} links to a {kind} ({display_path(os.readlink(link))})")
    return f"{st.st_size}:{st.st_mtime_ns}".encode() if stat.S_ISREG(st.st_mode) else b"folder"


def cache_key(script: Path, config: dict[str, Any], inputs: dict[str, Path], *,
              boundary: str | os.PathLike | None = None, time_limit: float | None = None,
              deadline: Deadline | None = None) -> str:
    """Hash of the script's content, the step's config (name, mode, env, args) and its inputs' contents.

    Raises ``CacheUnavailable`` when an input holds a special file or hashing exceeds ``time_limit``
    (default ``HASH_TIME_LIMIT``), or ``deadline``: one shared with the step's other hashing (its
    recorded input digests), so that together they stay within one limit.
    """
    if deadline is None:
        deadline = Deadline(HASH_TIME_LIMIT if time_limit is None else time_limit, "hashing the step's inputs")
    digest = hashlib.sha256()
    digest.update(file_digest(script, deadline).encode())
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for name in sorted(inputs):
        digest.update(f"\0input:{name}\0".encode())
        hash_tree(inputs[name], digest, boundary=boundary, deadline=deadline)
    return digest.hexdigest()[:32]


def _copy_file(src: str, dst: str, mode: int) -> os.stat_result:
    """Copy a regular file (reflink if the filesystem can, else in the kernel), keeping its mtime."""
    with _open_regular(src) as fin:
        st = os.fstat(fin.fileno())
        with open(dst, "xb") as fout:
            try:
                import fcntl

                fcntl.ioctl(fout.fileno(), _FICLONE, fin.fileno())
            except (OSError, ImportError):
                _kernel_copy(fin, fout, st.st_size)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.chmod(dst, mode)
    return st


def _kernel_copy(fin: Any, fout: Any, size: int) -> None:
    offset = 0
    try:
        while offset < size:
            sent = os.sendfile(fout.fileno(), fin.fileno(), offset, min(size - offset, 1 << 30))
            if sent == 0:
                break
            offset += sent
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP) or offset:
            raise
        shutil.copyfileobj(fin, fout, _CHUNK)


def copy_tree(src: Path, dst: Path, *, readonly: bool = False, hashes: bool = False,
              known: dict[str, dict[str, Any]] | None = None,
              deadline: Deadline | None = None) -> dict[str, dict[str, Any]]:
    """Make ``dst`` a copy of folder ``src``: regular files copied, links recreated as links (never
    followed), special files refused. Returns the manifest: relative name -> size and, with
    ``hashes``, sha256, or the link's target. ``known`` (a verified manifest of ``src``) gives the
    copies' digests, so that nobody hashes them again."""
    dst.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict[str, Any]] = {}
    for rel, entry in walk_tree(src):
        if deadline is not None:
            deadline.check()
        target = dst / rel
        if entry.is_dir(follow_symlinks=False):
            target.mkdir(exist_ok=True)
            continue
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        if entry.is_symlink():
            link = os.readlink(entry.path)
            os.symlink(link, target)
            manifest[rel] = {"link": link}
            continue
        st = entry.stat(follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            raise CacheUnavailable(f"{display_path(entry.path)} is a {special_kind(st.st_mode) or 'special file'}")
        record: dict[str, Any] = {"size": st.st_size}
        if hashes:
            record["sha256"] = file_digest(entry.path, deadline)
        elif known and "sha256" in known.get(rel, {}):
            record["sha256"] = known[rel]["sha256"]
        mode = stat.S_IMODE(st.st_mode)
        started = time.time_ns()
        _copy_file(entry.path, str(target), (mode & ~0o222) if readonly else (mode | 0o200))
        if "sha256" in record:
            remember_digest(_memo_key(target.stat()), record["sha256"], started)
        manifest[rel] = record
    return manifest


class StepCache:
    """Stores and finds step outputs by key."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry stored under ``key``, if it is whole and of the current layout."""
        return self._load(self.root / key)

    @staticmethod
    def _load(folder: Path) -> dict[str, Any] | None:
        try:
            data = json.loads((folder / "entry.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("format") != ENTRY_FORMAT or not isinstance(data.get("files"), dict):
            return None
        data["path"] = str(folder)
        return data

    def put(self, key: str, pipeline: str, step: str, run_id: str, outputs: dict[str, Path]) -> str | None:
        """Keep a copy of a step's outputs under ``key``; a crash halfway leaves no entry (entry.json is
        last). Returns why nothing was stored, or None."""
        folder = self.root / key
        if self.get(key) is not None:
            return None
        tmp = self.root / f".{key}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir(parents=True)
            files = {name: copy_tree(Path(path), tmp / "outputs" / name, readonly=True, hashes=True,
                                     deadline=Deadline(HASH_TIME_LIMIT, "caching the step's outputs"))
                     for name, path in outputs.items()}
            atomic_write_json(tmp / "entry.json",
                              {"format": ENTRY_FORMAT, "key": key, "pipeline": pipeline, "step": step,
                               "run_id": run_id, "outputs": sorted(outputs), "files": files,
                               "created_at": time.time()})
        except (OSError, CacheUnavailable) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            return f"outputs not cached: {display_path(str(exc))}"
        if folder.exists():  # an entry of an older layout, or a damaged one
            self.drop({"path": str(folder)})
        try:
            os.replace(tmp, folder)
        except OSError:  # another writer got there first
            shutil.rmtree(tmp, ignore_errors=True)
        return None

    def verify(self, entry: dict[str, Any]) -> str | None:
        """Why the entry's files are not what was stored (sizes, hashes, files added or removed), or None."""
        base = Path(entry["path"]) / "outputs"
        for name, files in entry["files"].items():
            folder = base / name
            try:
                found = {rel: e for rel, e in walk_tree(folder) if not e.is_dir(follow_symlinks=False)}
            except OSError as exc:
                return f"output '{name}' cannot be read ({exc.strerror})"
            for rel in sorted(set(found) | set(files)):
                shown = f"{name}/{display_path(rel)}"
                want, have = files.get(rel), found.get(rel)
                if want is None:
                    return f"{shown} was added after the entry was stored"
                if have is None:
                    return f"{shown} was removed after the entry was stored"
                try:
                    if "link" in want:
                        if not have.is_symlink() or os.readlink(have.path) != want["link"]:
                            return f"{shown} is no longer the link that was stored"
                        continue
                    st = have.stat(follow_symlinks=False)
                    if not stat.S_ISREG(st.st_mode) or st.st_size != want.get("size"):
                        return f"{shown} changed size after the entry was stored"
                    if file_digest(have.path) != want.get("sha256"):
                        return f"{shown} changed content after the entry was stored"
                except (OSError, CacheUnavailable) as exc:
                    return f"{shown} cannot be checked ({exc})"
        return None

    def restore(self, entry: dict[str, Any], outputs: dict[str, Path]) -> str | None:
        """Fill a run's output folders with copies of a cache entry, after verifying it.

        Returns None when restored; else why not: a damaged entry is dropped, and the output
        folders are left empty for the step to run.
        """
        problem = self.verify(entry)
        if problem is None:
            try:
                for name, path in outputs.items():
                    src = Path(entry["path"]) / "outputs" / name
                    if src.is_dir():
                        copy_tree(src, Path(path), known=entry["files"].get(name))
                return None
            except (OSError, CacheUnavailable) as exc:
                problem = f"copying it failed ({display_path(str(exc))})"
        else:
            self.drop(entry)
            problem += "; the entry was dropped"
        for path in outputs.values():
            shutil.rmtree(path, ignore_errors=True)
            Path(path).mkdir(parents=True, exist_ok=True)
        return (f"cache entry {entry.get('key') or Path(entry['path']).name} of step '{entry.get('step')}' "
                f"was not used: {problem}")

    def drop(self, entry: dict[str, Any]) -> None:
        """Remove an entry (first renamed away, so that no reader sees it half-deleted)."""
        folder = Path(entry["path"])
        trash = folder.with_name(f".{folder.name}.{os.getpid()}.{time.time_ns()}.dropped")
        with contextlib.suppress(OSError):
            os.replace(folder, trash)
            shutil.rmtree(trash, ignore_errors=True)

    def latest_for(self, pipeline: str, step: str) -> dict[str, Any] | None:
        """The newest entry of a step, whatever its key: for ``use_cached_output`` after a failure."""
        best = None
        if not self.root.is_dir():
            return None
        for folder in self.root.iterdir():
            if folder.name.startswith("."):
                continue
            data = self._load(folder)
            if data is not None and data.get("pipeline") == pipeline and data.get("step") == step and (
                    best is None or data.get("created_at", 0) > best.get("created_at", 0)):
                best = data
        return best
