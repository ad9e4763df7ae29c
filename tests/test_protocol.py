"""The wire protocol: pipelines, inline commands, and bad input from unauthenticated and
authenticated clients. Each case is sent to Amber and to Redis 7.0.15; the replies and whether the
connection is closed must be the same, and Amber's memory must stay bounded."""

import socket
import time

import pytest


def exchange(port, payload, wait=0.3, chunks=None):
    """Sends `payload` (or each of `chunks`) and returns (reply bytes, closed_by_server)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(wait)
    try:
        for c in chunks or [payload]:
            try:
                s.sendall(c)
            except (BrokenPipeError, ConnectionResetError):
                break
        out = b""
        closed = False
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not d:
                closed = True
                break
            out += d
        return out, closed
    finally:
        s.close()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


CASES = [
    # name, payload
    ("pipeline", b"PING\r\n*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\nPING x\r\n"),
    ("inline_quotes", b'ECHO "a\\x41\\n b"\r\nECHO \'it\\\'s\'\r\n'),
    ("unbalanced_quotes", b'ECHO "abc\r\nPING\r\n'),
    ("empty_lines", b"\r\n\n   \r\nPING\r\n"),
    ("zero_multibulk", b"*0\r\n*-1\r\nPING\r\n"),
    ("bad_multibulk_len", b"*abc\r\nPING\r\n"),
    ("huge_multibulk_len", b"*3000000000\r\n"),
    ("negative_bulk_len", b"*1\r\n$-5\r\nPING\r\n"),
    ("bad_bulk_prefix", b"*1\r\n+PING\r\n"),
    ("bulk_over_proto_max", b"*2\r\n$4\r\nECHO\r\n$600000000\r\n"),
    ("unknown_command", b"NOPE a b\r\n"),
    ("wrong_arity", b"GET\r\nGET a b\r\n"),
    ("lowercase_and_mixed", b"ping\r\nPiNg\r\n"),
    ("command_after_error_not_run", b"*1\r\n$-5\r\nSET after 1\r\n"),
]


@pytest.mark.parametrize("name,payload", CASES, ids=[c[0] for c in CASES])
def test_bad_input_same_as_redis(name, payload, amber_server, redis_server):
    a = exchange(amber_server.port, payload)
    r = exchange(redis_server.port, payload)
    assert a == r, f"{name}: amber={a!r} redis={r!r}"


def test_byte_by_byte_pipeline(amber_server):
    req = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
    out, _ = exchange(amber_server.port, None, chunks=[bytes([b]) for b in req])
    assert out == b"+OK\r\n$5\r\nhello\r\n"


def test_deep_pipeline(amber_server):
    n = 20000
    req = b"".join(b"*2\r\n$4\r\nECHO\r\n$%d\r\n%d\r\n" % (len(str(i)), i) for i in range(n))
    s = socket.create_connection(("127.0.0.1", amber_server.port))
    s.sendall(req)
    want = b"".join(b"$%d\r\n%d\r\n" % (len(str(i)), i) for i in range(n))
    got = b""
    s.settimeout(10)
    while len(got) < len(want):
        d = s.recv(1 << 20)
        assert d, "connection closed"
        got += d
    s.close()
    assert got == want


@pytest.fixture(scope="module")
def auth_pair(tmp_path_factory):
    from conftest import ServerProc
    a = ServerProc("amber", tmp_path_factory.mktemp("pa"), ["--requirepass", "pw"]).start()
    r = ServerProc("redis", tmp_path_factory.mktemp("pr"), ["--requirepass", "pw"]).start()
    yield a, r
    a.stop()
    r.stop()


UNAUTH_CASES = [
    ("noauth", b"GET a\r\n"),
    ("too_many_args", b"*11\r\n"),
    ("bulk_too_long", b"*2\r\n$4\r\nAUTH\r\n$16385\r\n"),
    ("auth_then_big", b"AUTH pw\r\n*2\r\n$4\r\nECHO\r\n$16385\r\n" + b"x" * 16385 + b"\r\n"),
    ("wrong_pass", b"AUTH nope\r\nAUTH default nope\r\nPING\r\n"),
    ("hello_noauth", b"HELLO 3\r\n"),
    ("hello_auth", b"HELLO 2 AUTH default pw\r\nPING\r\n"),
]


@pytest.mark.parametrize("name,payload", UNAUTH_CASES, ids=[c[0] for c in UNAUTH_CASES])
def test_unauthenticated_limits_same_as_redis(name, payload, auth_pair):
    a, r = auth_pair
    got_a = exchange(a.port, payload)
    got_r = exchange(r.port, payload)
    if name == "hello_auth":
        # HELLO reports the client id, which differs between the two servers.
        import re
        norm = lambda b: (re.sub(rb"\$2\r\nid\r\n:\d+", b"ID", b[0]), b[1])  # noqa: E731
        got_a, got_r = norm(got_a), norm(got_r)
    assert got_a == got_r, f"{name}: amber={got_a!r} redis={got_r!r}"


def test_endless_inline_from_unauthenticated_client_bounded(auth_pair):
    a, _ = auth_pair
    before = rss_kib(a.pid)
    for _ in range(20):
        out, closed = exchange(a.port, None, chunks=[b"x" * 65536] * 40, wait=1)
        assert closed
        assert out in (b"", b"-ERR Protocol error: too big inline request\r\n")
    time.sleep(0.3)
    grown = rss_kib(a.pid) - before
    assert grown < 20 * 1024, f"RSS grew by {grown} KiB"


def test_query_buffer_limit_closes_client(new_amber):
    s = new_amber("--client-query-buffer-limit", "1mb")
    # A legal but huge bulk argument declared, then fed past the limit.
    payload = b"*2\r\n$4\r\nECHO\r\n$5000000\r\n"
    out, closed = exchange(s.port, None, chunks=[payload] + [b"y" * 65536] * 40, wait=1)
    assert closed
    assert out == b""
    assert s.client().ping()
