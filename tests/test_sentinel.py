"""Redis Sentinel (Debian's redis-server 7.0.15 run with --sentinel) fails over a group of
Amber servers: three Sentinels, an Amber master and two replicas (appendonly yes, fsync
always), each started from its own config file. A writer goes through redis-py's Sentinel
client, each write followed by WAIT 1; the master is killed with SIGKILL; Sentinel promotes a
replica, the client follows it, every write WAIT acknowledged is on the new master, and the
old master, restarted from its config file, is made a replica of the new one by Sentinel and
catches up (equal DEBUG DIGEST). The same runs once with a Redis 7.0.15 replica in the group."""

import os
import pathlib
import signal
import socket
import subprocess
import threading
import time

import pytest
import redis
from redis.sentinel import Sentinel

from conftest import ServerProc, amber_bin, free_port, raw_command, redis_bin, resp
from replstream import settle

GROUP = "mymaster"


class ConfServer(ServerProc):
    """A server started from a config file of its own (`<dir>/server.conf`), as a deployment
    runs it: CONFIG REWRITE, which Sentinel sends, has a file to rewrite."""

    def __init__(self, kind, dir, lines):
        super().__init__(kind, dir)
        self.conf = self.dir / "server.conf"
        base = [
            f"port {self.port}",
            "bind 127.0.0.1",
            f'dir "{self.dir}"',
            "enable-debug-command yes",
            "appendonly yes",
            "appendfsync always",
            'save ""',
        ]
        self.conf.write_text("\n".join(base + list(lines)) + "\n")

    def argv(self):
        return [amber_bin() if self.kind == "amber" else redis_bin(), str(self.conf)]


class SentinelProc:
    def __init__(self, dir, master_port):
        self.dir = pathlib.Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = self.dir / "sentinel.conf"
        self.log_path = self.dir / "sentinel.log"
        # down-after-milliseconds is 2 s, not 1: Sentinel pings and reconnects once a second,
        # and after a switch it reconnects to the new master up to a second after its last
        # attempt at the old one, so with 1 s it can find a healthy new master "down".
        self.conf.write_text(
            "\n".join(
                [
                    f"port {self.port}",
                    "bind 127.0.0.1",
                    f'dir "{self.dir}"',
                    f"sentinel monitor {GROUP} 127.0.0.1 {master_port} 2",
                    f"sentinel down-after-milliseconds {GROUP} 2000",
                    f"sentinel failover-timeout {GROUP} 6000",
                    f"sentinel parallel-syncs {GROUP} 2",
                ]
            )
            + "\n"
        )
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [redis_bin(), str(self.conf), "--sentinel"], stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir
        )
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sentinel exited: {self.log_path.read_text()[-2000:]}")
            try:
                if redis.Redis(port=self.port, socket_timeout=1).ping():
                    return self
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(0.05)
        raise RuntimeError("sentinel did not answer PING")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            self.log.close()


def wait_for(what, cond, timeout):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Writer(threading.Thread):
    """SET w:<i> <i>, then WAIT 1 500, through the Sentinel client; remembers the writes
    WAIT saw on at least one replica."""

    def __init__(self, sentinel):
        super().__init__(daemon=True)
        self.master = sentinel.master_for(GROUP, socket_timeout=1, socket_connect_timeout=1)
        self.acked = []
        self.errors = 0
        self.addresses = []
        self.stop_flag = threading.Event()

    def run(self):
        i = 0
        while not self.stop_flag.is_set():
            i += 1
            try:
                self.master.set(f"w:{i}", i)
                if self.master.execute_command("WAIT", 1, 500) >= 1:
                    self.acked.append(i)
                addr = self.master.connection_pool.get_master_address()
                if not self.addresses or self.addresses[-1] != addr:
                    self.addresses.append(addr)
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                self.errors += 1
                time.sleep(0.05)


def sentinel_master(sentinels):
    """The master address every Sentinel agrees on."""
    addrs = set()
    for s in sentinels:
        a = redis.Redis(port=s.port, socket_timeout=2).execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", GROUP)
        addrs.add((a[0].decode(), int(a[1])) if a else None)
    return addrs.pop() if len(addrs) == 1 else None


@pytest.mark.parametrize("kinds", [("amber", "amber", "amber"), ("amber", "amber", "redis")], ids=["amber", "with-redis-replica"])
def test_sentinel_fails_over_amber(tmp_path, kinds):
    master = ConfServer(kinds[0], tmp_path / "m", [])
    servers = [master]
    sentinels = []
    try:
        master.start()
        for n, kind in enumerate(kinds[1:]):
            r = ConfServer(kind, tmp_path / f"r{n}", [f"replicaof 127.0.0.1 {master.port}", "repl-diskless-sync-delay 0"])
            servers.append(r.start())
        mc = master.client()
        for r in servers[1:]:
            settle(mc, r.client())
        for n in range(3):
            sentinels.append(SentinelProc(tmp_path / f"s{n}", master.port).start())
        # Each Sentinel has found both replicas (INFO's slaveN lines) and the other Sentinels
        # (hello messages on __sentinel__:hello).
        def discovered():
            for s in sentinels:
                m = redis.Redis(port=s.port, socket_timeout=2, decode_responses=True).sentinel_master(GROUP)
                if m["num-slaves"] != 2 or m["num-other-sentinels"] != 2:
                    return False
            return True

        wait_for("the Sentinels to discover the group", discovered, 30)
        sentinel = Sentinel([("127.0.0.1", s.port) for s in sentinels], socket_timeout=1)
        writer = Writer(sentinel)
        writer.start()
        wait_for("acknowledged writes", lambda: len(writer.acked) >= 200, 30)

        master.kill9()
        killed_at = time.time()
        old = ("127.0.0.1", master.port)
        new = wait_for("a promoted replica", lambda: (a := sentinel_master(sentinels)) and a != old and a, 40)
        promoted_after = time.time() - killed_at
        promoted = next(s for s in servers if s.port == new[1])
        assert promoted.kind == "amber" or kinds[2] == "redis"
        pc = promoted.client()
        assert pc.info("replication")["role"] == "master"
        # The client follows: writes go on, acknowledged, at the new master.
        before = len(writer.acked)
        wait_for("writes acknowledged by the new master", lambda: len(writer.acked) >= before + 100, 30)
        writer.stop_flag.set()
        writer.join(10)
        assert writer.addresses[-1] == new

        # Every write WAIT acknowledged is on the new master.
        pipe = pc.pipeline(transaction=False)
        for i in writer.acked:
            pipe.get(f"w:{i}")
        values = pipe.execute()
        missing = [i for i, v in zip(writer.acked, values) if v != str(i).encode()]
        assert missing == [], f"{len(missing)} acknowledged writes lost, first {missing[:10]}"
        print(f"promoted {promoted_after:.1f} s after the kill; {len(writer.acked)} writes acknowledged, all present")

        # The promoted replica's config file was rewritten: no replicaof line any more.
        conf = promoted.conf.read_text()
        assert "replicaof" not in conf and "slaveof" not in conf, conf

        # The old master comes back from its own config file; Sentinel turns it into a
        # replica of the new master (REPLICAOF + CONFIG REWRITE), and it catches up.
        master.start()
        oc = master.client()
        wait_for(
            "the old master to follow the new one",
            lambda: (i := oc.info("replication"))["role"] == "slave" and i["master_port"] == promoted.port and i["master_link_status"] == "up",
            60,
        )
        assert f"replicaof 127.0.0.1 {promoted.port}" in master.conf.read_text()
        assert sentinel_master(sentinels) == new
        for s in servers:
            if s is not promoted:
                settle(pc, s.client())
        d = pc.execute_command("DEBUG", "DIGEST")
        for s in servers:
            assert s.client().execute_command("DEBUG", "DIGEST") == d, s.kind
    finally:
        for s in sentinels:
            s.stop()
        for s in servers:
            s.stop()


REWRITE_CONF = """# a comment
port {port}

bind 127.0.0.1
dir "{dir}"
appendonly no
save ""
slaveof 127.0.0.1 1


masterauth secret
replica-announce-ip 10.0.0.5
replica-priority 50
replica-priority 60
  hz 20
"""


def rewritten(server, *replicaof):
    c = server.client()
    c.execute_command("REPLICAOF", *replicaof)
    c.execute_command("CONFIG", "REWRITE")
    text = server.conf.read_text().replace(str(server.port), "PORT").replace(str(server.dir), "DIR")
    # Redis also writes settings Amber does not have (latency percentiles, the ACL user):
    # compared is what comes before its signature.
    return text.split("# Generated by CONFIG REWRITE\n")[0]


def test_config_rewrite_replicaof_as_redis(tmp_path):
    """What Sentinel's reconfiguration leaves in a config file (REPLICAOF host port or NO
    ONE, then CONFIG REWRITE) is what Redis 7.0.15 leaves: the alias line rewritten as
    `replicaof host port`, removed on a master; strings quoted; a directive's extra lines
    and runs of empty lines are one empty line."""
    texts = {}
    for kind in ("amber", "redis"):
        s = ConfServer(kind, tmp_path / kind, [])
        s.conf.write_text(REWRITE_CONF.format(port=s.port, dir=s.dir))
        s.start()
        try:
            texts[kind] = [rewritten(s, "127.0.0.1", "17005"), rewritten(s, "NO", "ONE")]
        finally:
            s.stop()
    assert texts["amber"] == texts["redis"]
    as_replica, as_master = texts["amber"]
    assert "replicaof 127.0.0.1 17005\n" in as_replica and 'masterauth "secret"' in as_replica
    assert "replicaof" not in as_master and "slaveof" not in as_master and "\n\n\n" not in as_master


def shape(info_text):
    """INFO replication as Sentinel reads it, numbers and ids masked: {field: value}."""
    import re

    out = {}
    for line in info_text.splitlines():
        if ":" not in line or line.startswith("#"):
            continue
        k, v = line.split(":", 1)
        v = re.sub(r"\b[0-9a-f]{40}\b", "<id>", v)
        v = re.sub(r"(offset|lag)=\d+", r"\1=<n>", v)
        if k in ("master_repl_offset", "slave_repl_offset", "slave_read_repl_offset", "repl_backlog_first_byte_offset",
                 "repl_backlog_histlen", "master_last_io_seconds_ago", "second_repl_offset", "master_port"):
            v = "<n>"
        out[k] = v
    return out


def sentinel_view(kind, tmp_path):
    """A master and a replica of `kind` (replica-priority, replica-announce-ip/port set),
    then what Sentinel sees and does: INFO replication on both, ROLE, and its MULTI /
    SLAVEOF NO ONE / CONFIG REWRITE / CLIENT KILL TYPE normal / pubsub / EXEC on the replica
    with a normal and a subscribed client connected."""
    m = ConfServer(kind, tmp_path / f"{kind}-m", []).start()
    r = ConfServer(kind, tmp_path / f"{kind}-r", [f"replicaof 127.0.0.1 {m.port}", "replica-priority 42",
                                                  "replica-announce-ip 10.9.8.7", "replica-announce-port 7777"]).start()
    try:
        mc, rc = m.client(decode_responses=True), r.client(decode_responses=True)
        mc.set("k", "v")
        settle(mc, rc)
        view = {
            "master": shape(raw_command(mc, "INFO", "replication")),
            "replica": shape(raw_command(rc, "INFO", "replication")),
            # ROLE without the port and the offset (the stream's pings make it vary).
            "role": rc.execute_command("ROLE")[:2] + rc.execute_command("ROLE")[3:4],
        }
        cmd = r.client(single_connection_client=True, decode_responses=True)
        cmd.execute_command("CLIENT", "SETNAME", "sentinel-cmd")
        normal = socket.create_connection(("127.0.0.1", r.port), timeout=5)
        normal.sendall(resp("PING"))
        assert normal.recv(100) == b"+PONG\r\n"
        sub = socket.create_connection(("127.0.0.1", r.port), timeout=5)
        sub.sendall(resp("SUBSCRIBE", "__sentinel__:hello"))
        time.sleep(0.2)
        sub.recv(1000)
        cmd.publish("__sentinel__:hello", "127.0.0.1,1,id,0,mymaster,127.0.0.1,1,0")
        time.sleep(0.2)
        view["hello"] = sub.recv(1000)
        conn = cmd.connection
        for args in (["MULTI"], ["SLAVEOF", "NO", "ONE"], ["CONFIG", "REWRITE"], ["CLIENT", "KILL", "TYPE", "normal"],
                     ["CLIENT", "KILL", "TYPE", "pubsub"], ["EXEC"]):
            conn.send_command(*args)
        view["tx"] = [str(conn.read_response()) for _ in range(6)]
        view["after"] = [cmd.execute_command("CLIENT", "GETNAME"), rc.info("replication")["role"]]
        view["closed"] = [normal.recv(100), sub.recv(100)]
        view["conf"] = "replicaof" in r.conf.read_text()
        return view
    finally:
        r.stop()
        m.stop()


def test_what_sentinel_sees_and_sends_as_redis(tmp_path):
    amber, real = sentinel_view("amber", tmp_path), sentinel_view("redis", tmp_path)
    assert amber["replica"] == real["replica"]
    assert amber["master"] == real["master"]
    assert amber == real
    assert "ip=10.9.8.7,port=7777,state=online" in amber["master"]["slave0"]
    assert amber["replica"]["slave_priority"] == "42"
    # Killed: the normal client and the INFO client (not the caller), and the subscriber.
    assert amber["tx"][-1] == "['OK', 'OK', 2, 1]" and amber["closed"] == [b"", b""]
