"""Remote inputs fetched into a content-addressed cache: listed first (no object body is read), only the
objects not cached yet downloaded, in parallel, each to a temporary name renamed into place when whole.

An object's cache key is its URL with its ETag, version id and size, so a changed object is a new key
and an unchanged one is never downloaded twice. A step gets a folder (or one file) assembled from
hard links to the cached objects. Made read-only, so that a step that writes into its input fails
instead of changing the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetest_nb.remote.errors import RemoteDataError, explain, transient
from pipetest_nb.remote.filesystems import filesystem, protocol
from pipetest_nb.spec.urls import redacted

WORKERS = 16
TRIES = 3  # per object, for throttling and dropped connections (each try retried by botocore too); waits 0.25, 0.5 s


@dataclass(frozen=True)
class RemoteObject:
    """One object of a remote input: where it is, where it goes inside the input, what identifies its bytes."""

    url: str
    rel: str
    size: int
    etag: str | None = None
    version: str | None = None
    stamp: str | None = None  # a modified time, for filesystems that give no ETag

    @property
    def key(self) -> str:
        ident = [self.url, self.etag or "", self.version or "", str(self.size), "" if self.etag else self.stamp or ""]
        return hashlib.sha256("\0".join(ident).encode()).hexdigest()


@dataclass
class FetchedInput:
    """A remote input in the cache: the local path a step reads and what it was made from."""

    url: str
    path: Path
    key: str
    objects: list[RemoteObject]
    notes: list[str] = field(default_factory=list)

    def pin(self) -> dict[str, Any]:
        """What the run record keeps: enough to fetch the same bytes again and to tell that they changed."""
        pin: dict[str, Any] = {"url": redacted(self.url), "key": self.key, "objects": len(self.objects),
                               "size": sum(o.size for o in self.objects)}
        if len(self.objects) == 1 and not self.objects[0].rel:
            obj = self.objects[0]
            pin.update({k: v for k, v in (("etag", obj.etag), ("version", obj.version)) if v})
            pin["file"] = self.path.name
        return pin


def _etag(info: Mapping[str, Any]) -> str | None:
    value = info.get("ETag") or info.get("etag") or info.get("md5Hash") or info.get("checksum")
    return str(value).strip('"') if value else None


def _object(url_root: str, proto: str, path: str, info: Mapping[str, Any], rel: str) -> RemoteObject:
    stamp = info.get("LastModified") or info.get("mtime") or info.get("updated") or info.get("created")
    return RemoteObject(url=f"{proto}://{path}" if proto != "file" else f"file://{path}", rel=rel,
                        size=int(info.get("size") or 0), etag=_etag(info),
                        version=info.get("VersionId") or info.get("version_id") or info.get("generation"),
                        stamp=str(stamp) if stamp is not None else None)


def list_remote(url: str) -> list[RemoteObject]:
    """The objects of ``url`` (one object, or every object under a prefix), from a listing: no body is read."""
    fs, path = filesystem(url)
    proto = protocol(url)
    try:
        info = None if url.endswith("/") else _retrying(url, lambda: fs.info(path))
        if info is not None and info.get("type") != "directory":
            return [_object(url, proto, path, info, "")]
        found = _retrying(url, lambda: fs.find(path, detail=True))
    except RemoteDataError:
        raise
    except Exception as exc:  # noqa: BLE001 - every filesystem raises its own; explain names the cause
        raise explain(url, exc) from None
    prefix = path.rstrip("/") + "/"
    objects = [_object(url, proto, p, i, p[len(prefix):]) for p, i in sorted(found.items())
               if i.get("type") != "directory" and p.startswith(prefix)]
    if not objects:
        try:  # an empty listing: a missing bucket, or a prefix with nothing under it
            _retrying(url, lambda: fs.ls(path.split("/", 1)[0]))
        except Exception as exc:  # noqa: BLE001
            raise explain(url, exc) from None
        raise RemoteDataError(url, "no such key: nothing is stored under this prefix",
                              "check the path (an object's URL, or a prefix ending with '/')")
    return objects


def _retrying(url: str, call: Any, tries: int = TRIES) -> Any:
    """``call()``, tried again with a bounded backoff while the failure is throttling or the network."""
    for attempt in range(1, tries + 1):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001
            if attempt == tries or not transient(exc):
                raise explain(url, exc, attempt) from None
            time.sleep(min(0.25 * 2 ** (attempt - 1), 2.0))
    raise AssertionError("unreachable")


def tree_key(url: str, objects: list[RemoteObject]) -> str:
    """The key of a whole input: its URL and the keys of its objects, in order."""
    digest = hashlib.sha256(url.encode())
    for obj in sorted(objects, key=lambda o: o.rel):
        digest.update(f"\0{obj.rel}\0{obj.key}".encode())
    return digest.hexdigest()


class RemoteStore:
    """The cache folder: ``objects/`` (one file per key), ``inputs/`` (assembled inputs), ``tmp/`` (in flight),
    ``urls/`` (what each URL was last, to say when it changed)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def object_path(self, obj: RemoteObject) -> Path:
        return self.root / "objects" / obj.key[:2] / obj.key

    def input_path(self, key: str, objects: list[RemoteObject]) -> Path:
        folder = self.root / "inputs" / key
        single = len(objects) == 1 and not objects[0].rel
        return folder / (objects[0].url.rstrip("/").rsplit("/", 1)[-1] or "data") if single else folder

    def temp_path(self, suffix: str = ".part") -> Path:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp / f"{os.getpid()}-{uuid.uuid4().hex}{suffix}"

    def clean_temp(self) -> None:
        """Remove what killed fetches left in ``tmp/`` (its name starts with the pid of a process now gone)."""
        tmp = self.root / "tmp"
        if not tmp.is_dir():
            return
        for item in tmp.iterdir():
            pid = item.name.split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                shutil.rmtree(item, ignore_errors=True) if item.is_dir() else item.unlink(missing_ok=True)

    def download(self, fs: Any, obj: RemoteObject, progress: Any) -> None:
        """One object into the cache: to a temporary name, checked for its size, then renamed into place."""
        dest = self.object_path(obj)
        if dest.exists():
            return
        tmp = self.temp_path()

        def get() -> None:
            version = {"version_id": obj.version} if obj.version and protocol(obj.url) in ("s3", "s3a") else {}
            fs.get_file(fs._strip_protocol(obj.url), str(tmp), **version)
            got = tmp.stat().st_size
            if got != obj.size:
                raise ConnectionError(f"response payload is not completed: {got} of {obj.size} bytes")

        try:
            _retrying(obj.url, get)
            tmp.chmod(0o444)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        progress.update(obj.size)

    def assemble(self, key: str, objects: list[RemoteObject]) -> Path:
        """The input folder (or file) of ``key``, made of links to the cached objects, renamed into place whole."""
        target = self.input_path(key, objects)
        folder = self.root / "inputs" / key
        if folder.exists():
            return target
        build = self.temp_path(suffix=".input")
        try:
            for obj in objects:
                dest = build / (obj.rel or target.name)
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(self.object_path(obj), dest)
                except OSError:
                    shutil.copyfile(self.object_path(obj), dest)
                    dest.chmod(0o444)
            folder.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(build, folder)
            except OSError:
                if not folder.exists():  # else another process assembled the same input meanwhile
                    raise
        finally:
            shutil.rmtree(build, ignore_errors=True)
        return target

    def has(self, key: str) -> bool:
        return (self.root / "inputs" / key).exists()

    def last_seen(self, url: str) -> dict[str, Any] | None:
        path = self._url_file(url)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def remember(self, fetched: FetchedInput) -> None:
        path = self._url_file(fetched.url)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.temp_path(".json")
        tmp.write_text(json.dumps(fetched.pin()), encoding="utf-8")
        os.replace(tmp, path)

    def _url_file(self, url: str) -> Path:
        return self.root / "urls" / f"{hashlib.sha256(url.encode()).hexdigest()}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
