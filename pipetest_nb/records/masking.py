"""Secrets: the step gets the real values; nothing we write or show repeats them.

Two nets catch a secret. By name: env variables and args whose names say KEY, SECRET, TOKEN,
PASSWORD, CREDENTIAL or AUTH (in the pipeline, its defaults, and the runner's own environment,
e.g. ``AWS_SECRET_ACCESS_KEY``). By shape, whatever the name: credentials in URLs
(``scheme://user:pass@host``), AWS access key ids, private key blocks, bearer tokens and
``Authorization`` headers, ``password=...``-style assignments, well-known token formats and long
high-entropy strings (mixed case and digits, short character runs; hex digests such as cache keys,
run ids and paths are not masked).

The values to scrub are computed once per step (``step_secrets``) and handed to the log sinks,
which scrub ``stdout.log``/``stderr.log`` and the live output as they are written
(``LogScrubber``, which holds back an unfinished line so a secret split across two writes is
still caught). The run record never keeps a raw secret: env and args are masked, error messages
and tracebacks scrubbed. Readers (reports, widgets) scrub by shape once more, for logs of older
runs; they never go back to the pipeline file for secret values.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, AnyStr

if TYPE_CHECKING:
    from pipetest_nb.spec.model import PipelineDAG

MASK = "********"
_SHORTEST_SECRET = 4  # shorter values would mask ordinary words in logs
_SHORTEST_RUNNER_SECRET = 8  # the runner's environment is not the user's choice: be stricter there

_SECRET_WORDS = frozenset({"key", "secret", "token", "password", "passwd", "pass", "pwd", "passphrase",
                           "credential", "credentials", "auth", "apikey"})
_SECRET_ENDINGS = ("key", "secret", "token", "password", "passwd", "credential", "credentials")
#: ``sort_key``, ``primary_key``... name data, not credentials.
_DATA_KEYS = frozenset({"sort", "primary", "foreign", "join", "partition", "label", "group", "index", "column",
                        "col", "row", "lookup", "merge", "target", "dict", "map", "cache", "id"})
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def secret_name(name: str) -> bool:
    """Whether an env or arg name says its value is a secret (``API_KEY``, ``dbPassword``, ``MY_TOKEN``)."""
    words = [w.lower() for w in _WORDS.findall(str(name))]
    if words == ["pwd"]:
        return False  # the shell's working directory
    for i, word in enumerate(words):
        if word == "key" and i > 0 and words[i - 1] in _DATA_KEYS:
            continue
        if word in _SECRET_WORDS or any(word.endswith(e) and word != e for e in _SECRET_ENDINGS):
            return True
    return False


# -- shapes -----------------------------------------------------------------------------------------

_PEM_BEGIN = r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
_PEM_END = r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
_TOKEN_CHARS = r"A-Za-z0-9+/_-"

#: (pattern, group to mask, words one of which must be in the lowercased text for the pattern to be tried).
#: Group 0 masks the whole match, -1 a match that ``looks_random``. Patterns are written for lowercased
#: text where case does not matter (bytes are matched lowercased: ASCII case changes no offsets).
_SHAPES: list[tuple[str, int, tuple[str, ...]]] = [
    (_PEM_BEGIN + r".*?(?:" + _PEM_END + r"|\Z)", 0, ("private key",)),
    (r"://[^\s/:@\"']*:([^\s/@\"']+)(?=@)", 1, ("://",)),
    (r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest)\s+)?)([^\s\"',;]{4,})", 2,
     ("authorization",)),
    (r"(?i)(\bbearer\s+)([a-z0-9._~+/=-]{8,})", 2, ("bearer",)),
    (r"(?i)((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)[\"']?\s*[:=]\s*"
     r"[\"']?)(?!\*{8})([^\s\"',;{}()\[\]]{4,})", 2, ("pass", "pwd", "secret", "token", "key")),
    (r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b", 0, ()),
    (r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}|glpat-[A-Za-z0-9_-]{20,}"
     r"|xox[abposr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"
     r"|sk-[A-Za-z0-9_-]{20,}|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})", 0, ()),
    (rf"(?<![{_TOKEN_CHARS}])[{_TOKEN_CHARS}]{{24,}}={{0,2}}(?![={_TOKEN_CHARS}])", -1, ()),
]


def _compiled(as_bytes: bool) -> list[tuple[re.Pattern, int, tuple, bool]]:
    shapes = []
    for pattern, group, words in _SHAPES:
        lowered = as_bytes and pattern.startswith("(?i)")  # match on text.lower(), without IGNORECASE: faster
        source = pattern[4:] if lowered else pattern
        shapes.append((re.compile(source.encode() if as_bytes else source, re.DOTALL), group,
                       tuple(w.encode() for w in words) if as_bytes else words, lowered))
    return shapes


_STR_SHAPES = _compiled(False)
_BYTES_SHAPES = _compiled(True)
_BYTES_PEM_BEGIN = re.compile(_PEM_BEGIN.encode())
_BYTES_PEM_END = re.compile(_PEM_END.encode())
_LOWER_RUNS = re.compile(r"[a-z]+")
_CLASS_RUNS = re.compile(r"[a-z]+|[A-Z]+|[0-9]+")
_SHORTEST_RANDOM = 24
_MIN_ENTROPY = 3.5  # bits per character
_MAX_RUN = 2.5  # random text switches between lower, upper and digits every ~1.7 characters; words do not


def looks_random(token: str) -> bool:
    """Whether a token is a long random string (an API key, a base64 secret) rather than a word, digest or path.

    Needs 24+ characters with upper- and lowercase letters and digits (so hex digests, run ids and
    snake_case names never qualify), no leading ``/`` (paths), short runs of one character class
    (CamelCase names have long lowercase runs) and at least 3.5 bits of entropy per character.
    """
    body = token.rstrip("=")
    if len(body) < _SHORTEST_RANDOM or body.startswith("/") or "//" in body:
        return False
    if not (any(c.isupper() for c in body) and any(c.islower() for c in body) and any(c.isdigit() for c in body)):
        return False
    lower = _LOWER_RUNS.findall(body)
    runs = _CLASS_RUNS.findall(body)
    if sum(map(len, lower)) / len(lower) > _MAX_RUN or sum(map(len, runs)) / len(runs) > _MAX_RUN:
        return False
    counts = Counter(body)
    entropy = -sum(n / len(body) * math.log2(n / len(body)) for n in counts.values())
    return entropy >= _MIN_ENTROPY


def _shape_sub(text: AnyStr, shapes: list[tuple[re.Pattern, int, tuple, bool]], mask: AnyStr) -> AnyStr:
    lower = text.lower()
    for pattern, group, words, lowered in shapes:
        if words and not any(w in lower for w in words):
            continue
        spans = []
        for m in pattern.finditer(lower if lowered else text):
            if group != -1:
                spans.append(m.span(group))
            else:
                token = m.group(0)
                if looks_random(token.decode("ascii") if isinstance(token, bytes) else token):
                    spans.append(m.span())
        if spans:
            pieces, last = [], 0
            for begin, end in spans:
                pieces += [text[last:begin], mask]
                last = end
            pieces.append(text[last:])
            text = text[:0].join(pieces)
            lower = text.lower()
    return text


def shape_secrets(text: str) -> list[str]:
    """The parts of ``text`` that look like secrets by their shape (the password of a URL, a token...)."""
    found = []
    for pattern, group, _words, _lowered in _STR_SHAPES:
        for m in pattern.finditer(text):
            value = m.group(max(group, 0))
            if group != -1 or looks_random(value):
                found.append(value)
    return [v for v in found if len(v) >= _SHORTEST_SECRET]


def scrub(text: Any, secrets: Iterable[str] = ()) -> Any:
    """``text`` with every given secret value, and everything shaped like a secret, replaced by the mask.

    Anything that is not a string is given back as it is.
    """
    if not isinstance(text, str):
        return text
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _shape_sub(text, _STR_SHAPES, MASK)


def scrub_tree(value: Any, secrets: Iterable[str] = ()) -> Any:
    """``value`` (dicts, lists, strings) with every string scrubbed."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, Mapping):
        return {k: scrub_tree(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_tree(v, secrets) for v in value]
    return value


# -- what the record keeps --------------------------------------------------------------------------


def mask_env(env: Mapping[str, Any], secrets: Iterable[str] = ()) -> dict[str, Any]:
    """The env as the record keeps it: secret-named values masked, secrets inside the others scrubbed."""
    secrets = tuple(secrets)
    return {k: (MASK if secret_name(k) else scrub(v, secrets)) for k, v in env.items()}


def mask_args(args: Any, secrets: Iterable[str] = (), hidden: bool = False) -> Any:
    """Args (nested dicts and lists too) as the record keeps them: text under secret names masked.

    Everything under a secret name is (``credentials: {user: .., pass: ..}``); numbers and flags stay.
    """
    secrets = tuple(secrets)
    if isinstance(args, Mapping):
        return {k: mask_args(v, secrets, hidden or secret_name(k)) for k, v in args.items()}
    if isinstance(args, (list, tuple)):
        return [mask_args(v, secrets, hidden) for v in args]
    return MASK if hidden and isinstance(args, str) else scrub(args, secrets)


def _named_values(value: Any, shortest: int, hidden: bool = False) -> Iterable[str]:
    """Text under secret names in a (nested) mapping, and the secret-shaped parts of any other text."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _named_values(item, shortest, hidden or secret_name(key))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _named_values(item, shortest, hidden)
    elif isinstance(value, str):
        if hidden and len(value) >= shortest:
            yield value
        yield from shape_secrets(value)


def step_secrets(env: Mapping[str, Any], args: Any = None, runner_env: Mapping[str, str] | None = None
                 ) -> tuple[str, ...]:
    """The values to scrub from one step's logs and messages, longest first (so none is half-masked).

    From the step's env (defaults included), its args and the environment of the process running
    pipetest (``os.environ`` unless given), which the step inherits. A secret-named runner variable
    that holds an existing path (``GOOGLE_APPLICATION_CREDENTIALS=/etc/key.json``) is not a secret.
    """
    runner_env = os.environ if runner_env is None else runner_env
    values = set(_named_values({k: str(v) for k, v in env.items()}, _SHORTEST_SECRET))
    values.update(_named_values(args or {}, _SHORTEST_SECRET))
    # os.environ's own bytes make the key: decoding every value per step costs more than a short step
    data = getattr(runner_env, "_data", None) if runner_env is os.environ else None
    items = tuple(data.items()) if isinstance(data, dict) else tuple(runner_env.items())
    values.update(v for v in _runner_secrets(items) if not (v.startswith("/") and os.path.exists(v)))
    return tuple(sorted(values, key=len, reverse=True))


@functools.lru_cache(maxsize=8)
def _runner_secrets(items: tuple[tuple[Any, Any], ...]) -> frozenset[str]:
    """The secret values of the runner's environment: every step of a run asks, the environment rarely changes."""
    return frozenset(_named_values({os.fsdecode(k): os.fsdecode(v) for k, v in items}, _SHORTEST_RUNNER_SECRET))


def pipeline_secrets(dag: PipelineDAG | None) -> tuple[str, ...]:
    """The values to scrub from what is shown of a pipeline held in memory (a live session's), longest first."""
    values = set(step_secrets({}))
    if dag is not None:
        values.update(step_secrets(dag.defaults.env, None, {}))
        for step in dag.steps.values():
            values.update(step_secrets(step.env, {"args": step.args, "defaults": step.defaults}, {}))
    return tuple(sorted(values, key=len, reverse=True))


def mask_error(data: dict[str, Any], secrets: Iterable[str]) -> dict[str, Any]:
    """A step's finish record with its secrets hidden in the error message, traceback and warnings."""
    secrets = tuple(secrets)
    for key in ("error_message", "traceback", "warnings"):
        if key in data:
            data[key] = scrub_tree(data[key], secrets)
    return data


def masked_spec(dag: PipelineDAG) -> dict[str, Any]:
    """The pipeline as the record keeps it: env and args of the pipeline, its defaults and steps masked."""
    spec = dag.to_dict()
    holders = [spec.get("defaults", {})]
    for step in spec["steps"].values():
        holders += [step, *(step.get("defaults") or {}).values()]
    for holder in holders:
        if holder.get("env"):
            holder["env"] = mask_env(holder["env"])
        if holder.get("args"):
            holder["args"] = mask_args(holder["args"])
    return spec


def unmask(dag: PipelineDAG) -> PipelineDAG:
    """Put back the env and args values the record masked, from the pipeline file, so a reopened run can go on."""
    from pipetest_nb.exceptions import PipetestError
    from pipetest_nb.spec.model import PipelineDAG

    try:
        live = PipelineDAG.load(dag.source)
    except (PipetestError, OSError, TypeError):
        return dag  # the file is gone or broken: masked values stay masked (and fail visibly)

    def restore(kept: Any, real: Any) -> Any:
        if isinstance(kept, dict) and isinstance(real, dict):
            return {k: restore(v, real[k]) if k in real else v for k, v in kept.items()}
        if isinstance(kept, list) and isinstance(real, list) and len(kept) == len(real):
            return [restore(k, r) for k, r in zip(kept, real, strict=True)]
        return real if isinstance(kept, str) and MASK in kept else kept

    dag.defaults = replace(dag.defaults, env=restore(dag.defaults.env, live.defaults.env))
    steps = {}
    for name, step in dag.steps.items():
        real = live.steps.get(name)
        steps[name] = step if real is None else replace(
            step, env=restore(step.env, real.env), args=restore(step.args, real.args),
            defaults=restore(step.defaults, real.defaults))
    dag.steps = steps
    return dag


# -- logs as they are written -----------------------------------------------------------------------

#: Bytes of an unfinished line held back at most; a longer line is cut at a space.
_HOLD = 8192
_BYTES_MASK = MASK.encode()


class LogScrubber:
    """Scrubs a byte stream written in chunks: ``feed`` what comes, write what it gives back, then ``flush``.

    An unfinished line is held back until its end arrives (or it grows past ``_HOLD``), and so is
    the start of a secret value cut by the chunk boundary; a private key block masks everything up
    to its END line, however many writes it takes.
    """

    def __init__(self, secrets: Iterable[str] = ()):
        values = sorted({s.encode("utf-8", "surrogateescape") for s in secrets if len(s) >= _SHORTEST_SECRET},
                        key=len, reverse=True)
        self._values = values
        self._exact = re.compile(b"|".join(re.escape(v) for v in values)) if values else None
        self._pending = b""
        self._in_key = False

    def feed(self, data: bytes) -> bytes:
        buf = self._pending + data
        cut = max(buf.rfind(b"\n"), buf.rfind(b"\r")) + 1
        if len(buf) - cut > _HOLD:
            cut = len(buf) - _HOLD // 2
            space = buf.rfind(b" ", 0, cut)
            if space >= len(buf) - _HOLD:
                cut = space + 1
        cut = self._before_partial_value(buf, cut)
        self._pending = buf[cut:]
        return self._scrub(buf[:cut])

    def flush(self) -> bytes:
        """The rest held back, scrubbed (at the end of the stream)."""
        rest, self._pending = self._pending, b""
        return self._scrub(rest)

    def _before_partial_value(self, buf: bytes, cut: int) -> int:
        """Move ``cut`` back before any secret value that starts before it and may end after it."""
        earliest = cut
        for value in self._values:
            first = value[:1]
            start = buf.find(first, max(0, cut - len(value) + 1), cut)
            while start != -1:
                if value.startswith(buf[start:cut]):
                    earliest = min(earliest, start)
                    break
                start = buf.find(first, start + 1, cut)
        return earliest

    def _scrub(self, data: bytes) -> bytes:
        if not data:
            return data
        if self._exact is not None:
            data = self._exact.sub(_BYTES_MASK, data)
        kept, pos = [], 0
        while True:  # private key blocks, which may span many writes
            if self._in_key:
                end = _BYTES_PEM_END.search(data, pos)
                if end is None:
                    break
                pos, self._in_key = end.end(), False
            begin = _BYTES_PEM_BEGIN.search(data, pos)
            if begin is None:
                kept.append(data[pos:])
                break
            kept.append(data[pos:begin.start()] + _BYTES_MASK)
            pos, self._in_key = begin.end(), True
        return _shape_sub(b"".join(kept), _BYTES_SHAPES[1:], _BYTES_MASK)
