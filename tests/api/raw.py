"""A raw HTTP/1.1 client on a socket: it sends exactly what a test says and may stop at any byte."""

from __future__ import annotations

import socket
import struct
import time


class RawClient:
    def __init__(self, port: int, *, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._buf = b""

    def head(self, method: str, path: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def chunk(self, data: bytes) -> None:
        """One piece of a chunked body (an empty one ends it)."""
        self.sock.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def status(self) -> int:
        """The status of the answer (reads the head only)."""
        while b"\r\n\r\n" not in self._buf:
            got = self.sock.recv(65536)
            if not got:
                raise ConnectionError(f"closed before an answer's head: {self._buf[:200]!r}")
            self._buf += got
        return int(self._buf.split(b" ", 2)[1])

    def read_until(self, marker: bytes, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {marker!r} in {self._buf[-200:]!r}")
            got = self.sock.recv(65536)
            if not got:
                raise ConnectionError("closed")
            self._buf += got
        return self._buf

    def close(self) -> None:
        """Hang up at once (RST, not a polite FIN after the data): the server sees the disconnect now."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
