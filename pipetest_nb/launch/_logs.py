"""Step logs: ``stdout.log`` / ``stderr.log`` capped in size with head and tail kept, passed on live.

A step that prints 50 MB must not fill the disk nor the notebook: the first half of the limit goes
to the file as it arrives, the last half is kept in memory and written at the end behind a
``[... N bytes omitted ...]`` marker. Bytes that are not UTF-8 are kept as they are in the file
and decoded with replacement characters for the live callback. Secrets are scrubbed before
anything reaches the file or the callback (``masking.LogScrubber``): the step's secret values and
whatever is shaped like a secret.
"""

from __future__ import annotations

import codecs
import io
import sys
import threading
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, TextIO

from pipetest_nb.launch.base import OutputCallback
from pipetest_nb.records.masking import LogScrubber


class LogSink:
    """One capped log file of one step; ``write`` may be called from any thread."""

    def __init__(self, path: str | Path, limit: int, stream: str, on_output: OutputCallback | None = None,
                 secrets: Iterable[str] = (), *, lazy: bool = False):
        """``lazy``: the file (and its folder) is made at the first byte, so a silent step leaves none."""
        self.path = Path(path)
        self.stream = stream
        self.total = 0
        self._head_left = limit // 2
        self._tail_limit = limit - limit // 2
        self._tail = bytearray()
        self._head_tail = bytearray()  # the last bytes of the head, for tail_text() of short logs
        self._file: BinaryIO | None = None if lazy else open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self._closed = False
        self._lock = threading.Lock()
        self._on_output = on_output
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._emitting = threading.local()
        self._scrubber = LogScrubber(secrets)

    def write(self, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            if self._closed:
                return
            text = self._store(self._scrubber.feed(data))
        if text:
            self._emit(text)

    def _store(self, data: bytes) -> str:
        """Keep scrubbed bytes (head to the file, tail in memory); the text for the live callback."""
        if data:
            self.total += len(data)
            rest = data
            if self._head_left > 0:
                head = rest[: self._head_left]
                file = self._opened()
                file.write(head)
                file.flush()
                self._head_left -= len(head)
                self._head_tail = (self._head_tail + head)[-4096:]
                rest = rest[len(head):]
            if rest:
                self._tail += rest
                if len(self._tail) > self._tail_limit:
                    del self._tail[: len(self._tail) - self._tail_limit]
        return self._decoder.decode(data) if self._on_output is not None else ""

    def _opened(self) -> BinaryIO:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        return self._file

    def _emit(self, text: str) -> None:
        self._emitting.active = True
        try:
            self._on_output(self.stream, text)  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - a broken view must not break the step; show it once
            print(f"pipetest: the {self.stream} callback failed and was turned off:", file=sys.__stderr__)
            traceback.print_exc(file=sys.__stderr__)
            self._on_output = None
        finally:
            self._emitting.active = False

    def emitting(self) -> bool:
        """True inside the live callback, in the thread running it."""
        return getattr(self._emitting, "active", False)

    def tail_text(self, chars: int = 2000) -> str:
        """The last ``chars`` characters written, for error messages."""
        with self._lock:
            data = bytes(self._tail[-chars * 2:]) if self._tail else bytes(self._head_tail)
        return data.decode("utf-8", errors="replace")[-chars:]

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            text = self._store(self._scrubber.flush())
            if self._tail:
                file = self._opened()
                omitted = self.total - file.tell() - len(self._tail)
                if omitted > 0:
                    file.write(f"\n[... {omitted} bytes omitted ...]\n".encode())
                file.write(self._tail)
            if self._file is not None:
                self._file.close()
            text += self._decoder.decode(b"", final=True) if self._on_output is not None else ""
        if text:
            self._emit(text)


def stderr_tail(sink: LogSink, lines: int = 15) -> str:
    """The last lines of a log, indented, ready to append to an error message ("" when empty)."""
    text = sink.tail_text().rstrip()
    if not text:
        return ""
    kept = text.splitlines()[-lines:]
    return f"\n{sink.stream} (last lines):\n" + "\n".join("  " + line for line in kept)


class SinkStream(io.TextIOBase):
    """A text stream writing into a ``LogSink``: ``sys.stdout`` / ``sys.stderr`` of an in-process step.

    What the live callback itself prints (a view echoing the step's output) goes to ``fallback``, the
    stream this one replaced, instead of looping back into the step's log."""

    def __init__(self, sink: LogSink, fallback: TextIO | None = None):
        super().__init__()
        self._sink = sink
        self._fallback = fallback
        self.buffer = _SinkBuffer(sink)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "backslashreplace"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self._sink.emitting():
            return self._fallback.write(text) if self._fallback is not None else len(text)
        self._sink.write(text.encode("utf-8", errors="backslashreplace"))
        return len(text)

    def flush(self) -> None:
        if self._sink.emitting() and self._fallback is not None:
            self._fallback.flush()

    def isatty(self) -> bool:
        return False


class _SinkBuffer(io.RawIOBase):
    """``sys.stdout.buffer`` of an in-process step: raw bytes into the sink."""

    def __init__(self, sink: LogSink):
        super().__init__()
        self._sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._sink.write(bytes(data))
        return len(data)
