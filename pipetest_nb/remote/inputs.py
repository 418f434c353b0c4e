"""A step's remote inputs made local: listed, compared with what the run recorded (or last fetched), the
missing objects downloaded in parallel under one progress bar, each input assembled in the cache.

A run pins each URL to the key of the bytes it read. Re-running a step of that run (``rerun_failed``,
``pipetest resume``) reads the same bytes from the cache, and says so when the data at the URL has
changed since; a new run reads the current data, and says so when it differs from the last fetch.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipetest_nb.remote.fetch import WORKERS, FetchedInput, RemoteObject, RemoteStore, list_remote, tree_key
from pipetest_nb.remote.filesystems import filesystem
from pipetest_nb.spec.urls import redacted

_PROGRESS_AFTER = 1.0  # seconds: a quick fetch shows no bar


def fetch_inputs(urls: Mapping[str, str], root: Path, pins: Mapping[str, Mapping[str, Any]] | None = None, *,
                 progress: bool = True, workers: int = WORKERS) -> dict[str, FetchedInput]:
    """``{name: FetchedInput}`` for ``{name: url}``, fetched into the cache at ``root``.

    ``pins`` are what a run recorded for these inputs (``FetchedInput.pin``): their bytes are used while
    the cache has them. Raises ``RemoteDataError`` naming the URL and the cause.
    """
    store = RemoteStore(root)
    store.clean_temp()
    pins = pins or {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(urls))), thread_name_prefix="pipetest-list") as pool:
        listings = dict(zip(urls, pool.map(list_remote, urls.values()), strict=True))
    results: dict[str, FetchedInput] = {}
    wanted: dict[str, RemoteObject] = {}
    for name, url in urls.items():
        objects, pin = listings[name], pins.get(name)
        key = tree_key(url, objects)
        current = FetchedInput(url, store.input_path(key, objects), key, objects)
        if pin and pin.get("url") == redacted(url) and pin.get("key") not in (None, key):
            pinned = _pinned(store, url, pin) or _recorded_version(url, pin, objects)
            if pinned is not None:
                where = "(from the cache)" if store.has(pinned.key) else f"(version {pin.get('version')}, fetched again)"
                pinned.notes.append(f"input '{name}': {redacted(url)} changed since this run read it "
                                    f"({_change(pin, objects)}); the step reads the bytes the run recorded {where}")
                results[name] = pinned
                if not store.has(pinned.key):
                    wanted.update((o.key, o) for o in pinned.objects if not store.object_path(o).exists())
                continue
            current.notes.append(f"input '{name}': {redacted(url)} changed since this run read it "
                                 f"({_change(pin, objects)}) and the recorded bytes are no longer in the cache; "
                                 "the step reads the current data")
        else:
            last = store.last_seen(url)
            if last and last.get("key") != key:
                current.notes.append(f"input '{name}': {redacted(url)} changed since it was last fetched "
                                     f"({_change(last, objects)}); fetching the new data")
        results[name] = current
        if not store.has(key):
            wanted.update((o.key, o) for o in objects if not store.object_path(o).exists())
    _download(store, list(wanted.values()), progress, workers)
    for fetched in results.values():
        if fetched.objects:
            fetched.path = store.assemble(fetched.key, fetched.objects)
            store.remember(fetched)
    return results


def _pinned(store: RemoteStore, url: str, pin: Mapping[str, Any]) -> FetchedInput | None:
    """The recorded bytes of an input, if the cache still has them."""
    key = str(pin["key"])
    if not store.has(key):
        return None
    folder = store.root / "inputs" / key
    path = folder / pin["file"] if pin.get("file") else folder
    return FetchedInput(url, path, key, [], notes=[]) if path.exists() else None


def _recorded_version(url: str, pin: Mapping[str, Any], objects: list[RemoteObject]) -> FetchedInput | None:
    """The object version a run recorded, to fetch again when the cache no longer has it (a versioned bucket)."""
    if not (pin.get("version") and pin.get("file") and len(objects) == 1 and not objects[0].rel):
        return None
    old = RemoteObject(url=objects[0].url, rel="", size=int(pin.get("size") or 0), etag=pin.get("etag"),
                       version=str(pin["version"]))
    if tree_key(url, [old]) != pin.get("key"):
        return None
    return FetchedInput(url, Path(), str(pin["key"]), [old])


def _change(before: Mapping[str, Any], objects: list[RemoteObject]) -> str:
    if len(objects) == 1 and not objects[0].rel and before.get("etag"):
        return f"ETag {before.get('etag')} -> {objects[0].etag}, {before.get('size')} -> {objects[0].size} bytes"
    return (f"{before.get('objects')} objects of {before.get('size')} bytes -> "
            f"{len(objects)} objects of {sum(o.size for o in objects)} bytes")


def _download(store: RemoteStore, objects: list[RemoteObject], progress: bool, workers: int) -> None:
    """The objects into the cache, ``workers`` at a time, under a bar shown once it takes a moment."""
    if not objects:
        return
    from tqdm import tqdm

    fs, _ = filesystem(objects[0].url)
    with tqdm(total=sum(o.size for o in objects), unit="B", unit_scale=True, desc="fetching remote inputs",
              delay=_PROGRESS_AFTER, disable=not progress, leave=False) as bar, \
            ThreadPoolExecutor(max_workers=max(1, min(workers, len(objects))), thread_name_prefix="pipetest-fetch") \
            as pool:
        futures = [pool.submit(store.download, fs if _same_fs(o, objects[0]) else filesystem(o.url)[0], o, bar)
                   for o in objects]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _same_fs(a: RemoteObject, b: RemoteObject) -> bool:
    return a.url.split("://", 1)[0] == b.url.split("://", 1)[0]
