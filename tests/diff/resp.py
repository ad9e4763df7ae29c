"""A small RESP2/RESP3 client for the differential harness: sends requests as raw bytes and parses
replies into `Frame`s that keep both their decoded value and their exact bytes, so replies can be
compared byte for byte or, where the order is unspecified, structurally."""

import select
import socket
import time


class ServerGone(Exception):
    """The server closed the connection, or did not answer in time."""


class Frame:
    """One RESP value. `kind` is the type byte ('+', '-', ':', '$', '*', '%', '~', '>', '_', ',',
    '#', '=', '(', '|'); `val` is bytes for scalars, an int for ':', a list of Frames for
    aggregates (a map's list is flat: k1, v1, k2, v2...), None for nulls; `raw` is the wire form."""

    __slots__ = ("kind", "val", "raw")

    def __init__(self, kind, val, raw):
        self.kind = kind
        self.val = val
        self.raw = raw

    def is_null(self):
        return self.kind == "_" or (self.kind in "$*" and self.val is None)

    def is_error(self):
        return self.kind == "-"

    def is_agg(self):
        return self.kind in "*%~>" and self.val is not None

    def items(self):
        return self.val if self.is_agg() else []

    def text(self):
        """The value as bytes for scalars (ints become their decimal form)."""
        if self.kind == ":":
            return str(self.val).encode()
        return self.val if isinstance(self.val, bytes) else b""

    def __repr__(self):
        r = self.raw
        if len(r) > 300:
            return repr(r[:300]) + f"...({len(r)} bytes)"
        return repr(r)


class Parser:
    """Incremental parser over a byte buffer."""

    def __init__(self):
        self.buf = bytearray()
        self.pos = 0
        self.pushes = []  # pushes that arrived inside another reply, in order
        self._nested = []

    def feed(self, data):
        if self.pos > 65536 and self.pos > len(self.buf) // 2:
            del self.buf[: self.pos]
            self.pos = 0
        self.buf += data

    def _line(self, at):
        end = self.buf.find(b"\r\n", at)
        if end < 0:
            return None, at
        return bytes(self.buf[at:end]), end + 2

    def _parse(self, at):
        """Returns (frame, next) or (None, at) if incomplete."""
        if at >= len(self.buf):
            return None, at
        kind = chr(self.buf[at])
        line, nxt = self._line(at + 1)
        if line is None:
            return None, at
        if kind in "+-,#(":
            return Frame(kind, line, bytes(self.buf[at:nxt])), nxt
        if kind == ":":
            return Frame(kind, int(line), bytes(self.buf[at:nxt])), nxt
        if kind == "_":
            return Frame(kind, None, bytes(self.buf[at:nxt])), nxt
        if kind in "$=!":
            n = int(line)
            if n < 0:
                return Frame(kind, None, bytes(self.buf[at:nxt])), nxt
            if len(self.buf) < nxt + n + 2:
                return None, at
            data = bytes(self.buf[nxt:nxt + n])
            end = nxt + n + 2
            k = "-" if kind == "!" else kind
            return Frame(k, data, bytes(self.buf[at:end])), end
        if kind in "*~>%|":
            n = int(line)
            if n < 0:
                return Frame(kind, None, bytes(self.buf[at:nxt])), nxt
            count = n * 2 if kind in "%|" else n
            items = []
            cur = nxt
            while len(items) < count:
                f, cur2 = self._parse(cur)
                if f is None:
                    return None, at
                cur = cur2
                if f.kind == ">" and kind != ">":
                    # A push the server sent while building this reply (a keyspace event
                    # published during EXEC, for one): not an element of it.
                    self._nested.append(f)
                    continue
                items.append(f)
            if kind == "|":
                # An attribute precedes the real reply: skip it, keep the reply.
                f, cur2 = self._parse(cur)
                if f is None:
                    return None, at
                return f, cur2
            raw = bytes(self.buf[at:nxt]) + b"".join(f.raw for f in items)
            return Frame(kind, items, raw), cur
        raise ServerGone(f"protocol error: unexpected type byte {kind!r} in {bytes(self.buf[at:at + 80])!r}")

    def next(self):
        """The next complete frame, or None. Pushes found inside it go to `self.pushes`."""
        self._nested = []
        f, nxt = self._parse(self.pos)
        if f is not None:
            self.pos = nxt
            self.pushes += self._nested
        return f


def encode(args):
    """A request as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """A raw connection. `read()` returns the next frame or raises ServerGone after `timeout`."""

    def __init__(self, port, timeout=10.0, name=""):
        self.port = port
        self.name = name or f"port {port}"
        self.timeout = timeout
        try:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except OSError as e:
            raise ServerGone(f"{self.name}: cannot connect: {e}") from e
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.parser = Parser()

    def send(self, *requests):
        """Sends one or more requests (each a list of args) in one write."""
        data = b"".join(encode(r) for r in requests)
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise ServerGone(f"{self.name}: send failed: {e}") from e

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ServerGone(f"{self.name}: no reply within {self.timeout}s")
        r, _, _ = select.select([self.sock], [], [], remaining)
        if not r:
            raise ServerGone(f"{self.name}: no reply within {self.timeout}s")
        try:
            data = self.sock.recv(1 << 16)
        except OSError as e:
            raise ServerGone(f"{self.name}: recv failed: {e}") from e
        if not data:
            raise ServerGone(f"{self.name}: connection closed by the server")
        self.parser.feed(data)

    def read(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.parser.next()
            if f is not None:
                return f
            self._fill(deadline)

    def ready(self):
        """Whether a complete frame can be read without waiting."""
        self.parser._nested = []
        f, _ = self.parser._parse(self.parser.pos)
        if f is not None:
            return True
        r, _, _ = select.select([self.sock], [], [], 0)
        if not r:
            return False
        try:
            data = self.sock.recv(1 << 16)
        except OSError as e:
            raise ServerGone(f"{self.name}: recv failed: {e}") from e
        if not data:
            raise ServerGone(f"{self.name}: connection closed by the server")
        self.parser.feed(data)
        self.parser._nested = []
        f, _ = self.parser._parse(self.parser.pos)
        return f is not None

    def call(self, *args):
        self.send(list(args))
        return self.read()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
