"""The step cache: keyed by content, never by mtime; entries appear whole or not at all."""

from __future__ import annotations

import os

from pipetest_nb.cache import StepCache, cache_key


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
