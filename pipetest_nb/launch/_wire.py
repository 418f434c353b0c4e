"""How a pool launcher, its workers and their spare children talk: one JSON message per packet of a
Unix ``SOCK_SEQPACKET`` socket, file descriptors attached with ``SCM_RIGHTS``."""

from __future__ import annotations

import json
import socket
from typing import Any

MAX_MESSAGE = 1 << 20


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def receive(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the descriptors that came with it; ``(None, [])`` when the peer is gone."""
    data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 8)
    return (json.loads(data) if data else None), list(fds)
