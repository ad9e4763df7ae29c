"""Shared fixtures: start amber-server and redis-server on free loopback ports, each in its own
temporary directory, and stop them by PID. A missing dependency fails loudly; nothing skips."""

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

import pytest
import redis

ROOT = pathlib.Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def amber_bin():
    b = os.environ.get("AMBER_BIN")
    if b:
        return b
    path = ROOT / "target" / "release" / "amber-server"
    if not path.exists():
        raise RuntimeError(f"{path} is missing: build it with `cargo build --release` (scripts/test does)")
    return str(path)


def redis_bin():
    b = shutil.which("redis-server")
    if not b:
        raise RuntimeError("redis-server is not installed: scripts/test installs it (apt-get install redis-server)")
    return b


def resp(*args):
    """One command in RESP, as a client sends it (for pipelining raw bytes)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def raw_command(client, *args):
    """Sends a command and returns the parsed reply, bypassing redis-py's reply callbacks."""
    conn = client.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:
        client.connection_pool.release(conn)


class ServerProc:
    """A server process on 127.0.0.1:<port> in directory `dir`."""

    def __init__(self, kind, dir, extra=(), port=None):
        self.kind = kind
        self.dir = pathlib.Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.extra = list(extra)
        self.proc = None
        self.log_path = self.dir / f"{kind}-{self.port}.log"

    def argv(self):
        binary = amber_bin() if self.kind == "amber" else redis_bin()
        base = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                "--enable-debug-command", "yes"]
        if self.kind == "redis":
            base += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        return base + self.extra

    def start(self, timeout=15):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                c = redis.Redis(port=self.port, socket_timeout=1)
                try:
                    if c.ping():
                        return self
                finally:
                    c.close()
            except redis.AuthenticationError:
                return self  # up, and asking for a password
            except redis.ResponseError as e:
                if "NOAUTH" in str(e) or "LOADING" not in str(e):
                    return self
            except (redis.ConnectionError, redis.TimeoutError):
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.kind} did not answer PING on port {self.port} within {timeout}s")

    def client(self, **kw):
        kw.setdefault("socket_timeout", 30)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.log.close()

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
            self.log.close()


@pytest.fixture(scope="session")
def amber_server(tmp_path_factory):
    s = ServerProc("amber", tmp_path_factory.mktemp("amber")).start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    s = ServerProc("redis", tmp_path_factory.mktemp("redis")).start()
    yield s
    s.stop()


@pytest.fixture
def new_amber(tmp_path):
    """Starts a private amber-server: new_amber(*extra_args)."""
    started = []

    def make(*extra, dir=None):
        s = ServerProc("amber", dir or tmp_path / f"amber{len(started)}", extra).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def amber_and_redis(tmp_path):
    """A private Amber and a private Redis, started the same way: [amber, redis]."""
    servers = [ServerProc(kind, tmp_path / kind).start() for kind in ("amber", "redis")]
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def r(request, amber_server):
    """A decoded redis-py client on the shared Amber server, in RESP2 and RESP3, after FLUSHALL."""
    c = amber_server.client(decode_responses=True, protocol=request.param)
    c.flushall()
    yield c
    c.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def rb(request, amber_server):
    """Like `r`, but replies stay bytes."""
    c = amber_server.client(protocol=request.param)
    c.flushall()
    yield c
    c.close()


@pytest.fixture(scope="module", autouse=True)
def seed_template_server(request, tmp_path_factory):
    """The user's own test template (test_redis_persistence.py, kept unchanged) talks to the
    default address, localhost:6379: for that module only, Amber serves there. A port already
    in use fails the module loudly."""
    if request.module.__name__ != "test_redis_persistence":
        yield None
        return
    with socket.socket() as s:
        # As a server binds (SO_REUSEADDR): a connection of an earlier run in TIME-WAIT
        # does not make the port busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", 6379))
        except OSError as e:
            raise RuntimeError(f"port 6379 is in use, the seed template needs it for Amber: {e}")
    s = ServerProc("amber", tmp_path_factory.mktemp("seed-template"), port=6379).start()
    yield s
    s.stop()


def replies_agree(clients, *cmd, raw=False):
    """Runs `cmd` on each client (an Amber and a Redis); the replies, or the error texts, must
    be equal. `raw` bypasses redis-py's reply callbacks. Returns ("ok", reply) or ("err", text)."""
    out = []
    for c in clients:
        try:
            out.append(("ok", raw_command(c, *cmd) if raw else c.execute_command(*cmd)))
        except redis.ResponseError as e:
            out.append(("err", str(e)))
    assert out[0] == out[1], (cmd, out)
    return out[0]


def plain(v):
    """A redis-py reply as a comparable value: errors (nested ones too, as EXEC's) as
    ("error", text), sets and maps sorted."""
    if isinstance(v, redis.ResponseError):
        return ("error", str(v))
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, set):
        return ("set", sorted(plain(x) for x in v))
    if isinstance(v, dict):
        return ("map", sorted((plain(k), plain(x)) for k, x in v.items()))
    return v
