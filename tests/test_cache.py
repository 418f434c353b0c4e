"""The step cache: keyed by content, never by mtime; entries appear whole or not at all."""

from __future__ import annotations

import os

from pipetest_nb.records.cache import StepCache, cache_key


def test_key_follows_content_not_mtime(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("print(1)\n")
    data = tmp_path / "in"
    data.mkdir()
    (data / "t.csv").write_text("a\n1\n")
    key = cache_key(script, {"env": {"A": "1"}}, {"IN": data})
    os.utime(script, (1, 1))
    os.utime(data / "t.csv", (1, 1))
    assert cache_key(script, {"env": {"A": "1"}}, {"IN": data}) == key
    assert cache_key(script, {"env": {"A": "2"}}, {"IN": data}) != key
    (data / "t.csv").write_text("a\n2\n")
    assert cache_key(script, {"env": {"A": "1"}}, {"IN": data}) != key
    (data / "t.csv").write_text("a\n1\n")
    (data / "extra.csv").write_text("")
    assert cache_key(script, {"env": {"A": "1"}}, {"IN": data}) != key


def test_put_get_restore_and_latest(tmp_path):
    cache = StepCache(tmp_path / "cache")
    out = tmp_path / "run" / "out"
    (out / "train").mkdir(parents=True)
    (out / "train" / "t.parquet").write_bytes(b"PAR1")
    cache.put("k1", "pipe", "step", "run-1", {"out": out})
    entry = cache.get("k1")
    assert entry["run_id"] == "run-1"
    target = tmp_path / "run2" / "out"
    cache.restore(entry, {"out": target})
    assert (target / "train" / "t.parquet").read_bytes() == b"PAR1"
    cache.put("k2", "pipe", "step", "run-2", {"out": out})
    assert cache.latest_for("pipe", "step")["run_id"] == "run-2"
    assert cache.latest_for("pipe", "other") is None
    assert cache.get("missing") is None


def _entry_with(tmp_path, files: dict[str, bytes]):
    cache = StepCache(tmp_path / "cache")
    out = tmp_path / "run" / "out"
    out.mkdir(parents=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
    assert cache.put("k", "pipe", "step", "run-1", {"out": out}) is None
    return cache, cache.get("k"), out


def test_entries_are_read_only_copies_and_restores_are_copies_too(tmp_path):
    cache, entry, out = _entry_with(tmp_path, {"t.csv": b"a\n1\n"})
    stored = tmp_path / "cache" / "k" / "outputs" / "out" / "t.csv"
    assert os.stat(stored).st_ino != os.stat(out / "t.csv").st_ino and not os.stat(stored).st_mode & 0o222
    (out / "t.csv").write_bytes(b"a\n2\n")  # the producer's run edits its own file: the entry keeps its bytes
    target = tmp_path / "run2" / "out"
    assert cache.restore(entry, {"out": target}) is None
    with open(target / "t.csv", "r+b") as fh:  # a consumer edits the restored file in place
        fh.write(b"X")
    assert stored.read_bytes() == b"a\n1\n"
    assert cache.restore(cache.get("k"), {"out": tmp_path / "run3" / "out"}) is None


def test_restore_verifies_and_drops_an_entry_that_changed(tmp_path):
    for change in ("content", "added", "removed"):
        root = tmp_path / change
        cache, entry, _ = _entry_with(root, {"t.csv": b"a\n1\n", "u.csv": b"b\n2\n"})
        stored = root / "cache" / "k" / "outputs" / "out"
        if change == "content":
            os.chmod(stored / "t.csv", 0o644)
            (stored / "t.csv").write_bytes(b"a\n9\n")
        elif change == "added":
            (stored / "extra.csv").write_bytes(b"")
        else:
            (stored / "u.csv").unlink()
        target = root / "run2" / "out"
        problem = cache.restore(entry, {"out": target})
        assert problem is not None and "of step 'step' was not used" in problem, change
        assert {"content": "t.csv changed content", "added": "extra.csv was added",
                "removed": "u.csv was removed"}[change] in problem
        assert cache.get("k") is None and list(target.iterdir()) == []  # dropped; the step runs on a clean folder


def test_entries_of_the_hard_linked_layout_are_never_restored(tmp_path):
    import json

    folder = tmp_path / "cache" / "old"
    (folder / "outputs" / "out").mkdir(parents=True)
    (folder / "entry.json").write_text(json.dumps({"key": "old", "pipeline": "p", "step": "s", "run_id": "r",
                                                   "outputs": ["out"], "created_at": 1.0}))
    cache = StepCache(tmp_path / "cache")
    assert cache.get("old") is None and cache.latest_for("p", "s") is None


def test_hashing_has_a_time_limit_and_refuses_special_files(tmp_path):
    import pytest

    from pipetest_nb.records.cache import CacheUnavailable

    script = tmp_path / "s.py"
    script.write_text("print(1)\n")
    data = tmp_path / "in"
    data.mkdir()
    (data / "t.csv").write_bytes(b"x" * (3 << 20))
    with pytest.raises(CacheUnavailable, match=r"took longer than 0 s \(pipetest_nb.records.cache.HASH_TIME_LIMIT\)"):
        cache_key(script, {}, {"IN": data}, time_limit=0)
    os.mkfifo(data / "pipe")
    with pytest.raises(CacheUnavailable, match="pipe is a FIFO"):
        cache_key(script, {}, {"IN": data})


def test_a_file_is_hashed_once_per_version(tmp_path, monkeypatch):
    import hashlib

    from pipetest_nb.records import cache as cache_module

    script = tmp_path / "s.py"
    script.write_text("print(1)\n")
    data = tmp_path / "in"
    data.mkdir()
    (data / "t.csv").write_bytes(b"a\n1\n")
    for path in (script, data / "t.csv"):
        os.utime(path, (1, 1))  # written long ago: their digests may be remembered
    key = cache_key(script, {}, {"IN": data})
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(cache_module.hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    assert cache_key(script, {}, {"IN": data}) == key
    assert len(calls) == 1  # the key's own digest; no file was read again
    (data / "t.csv").write_bytes(b"a\n2\n")
    assert cache_key(script, {}, {"IN": data}) != key
