"""maxmemory and eviction against Redis 7.0.15: the same limit, policy and seeded zipfian
workload through both (hit rates within 5 points), volatile-* policies keep keys without a
TTL, noeviction's OOM replies, LFU/LRU introspection, an AOF written while evicting replays
to the same dataset, and a replica follows its master's evictions."""

import bisect
import random
import socket
import time

import pytest
import redis

from conftest import ServerProc, replies_agree, resp

OOM = "OOM command not allowed when used memory > 'maxmemory'."
# redis-py turns the OOM error code into OutOfMemoryError and drops the code from the text.
OOM_PY = OOM.removeprefix("OOM ")
VALUE = b"v" * 1000
KEYS = 20000
# About 40% of the keyspace fits: both servers hold ~1.1 KB per key of 1000-byte values.
MAXMEMORY = 10 * 1024 * 1024


def zipf_keys(seed, n, count, s=0.8):
    """`count` key indices in [0, n) drawn from a zipfian distribution of exponent `s`, with
    ranks scattered over the key names (so hot keys are not neighbours)."""
    rng = random.Random(seed)
    weights = [1.0 / (i + 1) ** s for i in range(n)]
    cum, t = [], 0.0
    for w in weights:
        t += w
        cum.append(t)
    perm = list(range(n))
    rng.shuffle(perm)
    return [perm[min(bisect.bisect_left(cum, rng.random() * t), n - 1)] for _ in range(count)]


def run_workload(client, seed, ops, ttl=False):
    """Read-through cache: GET, and on a miss SET (with an EX when `ttl`). Returns the hit
    rate over the second half (after warm-up)."""
    keys = zipf_keys(seed, KEYS, ops)
    hits = misses = 0
    batch = 200
    for start in range(0, ops, batch):
        chunk = keys[start:start + batch]
        p = client.pipeline(transaction=False)
        for k in chunk:
            p.get(f"key:{k}")
        got = p.execute()
        p = client.pipeline(transaction=False)
        for k, v in zip(chunk, got):
            if v is None:
                if ttl:
                    p.set(f"key:{k}", VALUE, ex=100000)
                else:
                    p.set(f"key:{k}", VALUE)
            if start >= ops // 2:
                if v is None:
                    misses += 1
                else:
                    hits += 1
        p.execute()
    return hits / (hits + misses)


def start_pair(tmp_path, *extra):
    servers = [ServerProc(kind, tmp_path / kind, list(extra)).start() for kind in ("amber", "redis")]
    return servers


def stop_all(servers):
    for s in servers:
        s.stop()


def info(c, section):
    return c.info(section)


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu"])
def test_hit_rate_close_to_redis(tmp_path, policy):
    servers = start_pair(tmp_path, "--maxmemory", str(MAXMEMORY), "--maxmemory-policy", policy)
    try:
        rates = []
        for s in servers:
            c = s.client()
            rate = run_workload(c, seed=7, ops=60000, ttl=policy.startswith("volatile"))
            evicted = info(c, "stats")["evicted_keys"]
            used = info(c, "memory")["used_memory"]
            rates.append(rate)
            print(f"{policy} {s.kind}: hit rate {rate:.3f}, evicted {evicted}, keys {c.dbsize()}, used {used}")
            assert evicted > 0
            # Memory stays near the limit (the allocator's count, as INFO shows it).
            assert used < MAXMEMORY * 1.1
        amber, red = rates
        assert abs(amber - red) <= 0.05, (policy, amber, red)
    finally:
        stop_all(servers)


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"])
def test_volatile_policies_never_evict_keys_without_ttl(new_amber, policy):
    s = new_amber("--maxmemory", str(4 * 1024 * 1024), "--maxmemory-policy", policy)
    c = s.client()
    persistent = [f"p:{i}" for i in range(1000)]
    for k in persistent:
        c.set(k, VALUE)
    for i in range(10000):
        try:
            c.set(f"t:{i}", VALUE, ex=1000 + i)
        except redis.ResponseError as e:
            # Once only persistent keys are left, writes are refused.
            assert str(e) == OOM_PY
            break
    assert all(c.exists(k) for k in persistent)
    assert c.info("stats")["evicted_keys"] > 0
    if policy == "volatile-ttl":
        # The nearest expiries go first: the surviving volatile keys are the latest ones.
        left = sorted(int(k.split(b":")[1]) for k in c.keys("t:*"))
        assert left and left[0] > 100


def test_noeviction_oom_errors_identical_to_redis(tmp_path):
    servers = start_pair(tmp_path, "--maxmemory-policy", "noeviction")
    try:
        cs = [s.client() for s in servers]
        for c in cs:
            c.set("keep", "1")
            c.rpush("list", "a")
            p = c.pipeline(transaction=False)
            for i in range(3000):
                p.set(f"fill:{i}", VALUE)
            p.execute()
            used = c.info("memory")["used_memory"]
            c.config_set("maxmemory", str(used - 100000))
        # denyoom commands are refused; reads and deletions still work.
        for cmd in (["SET", "x", "1"], ["RPUSH", "list", "b"], ["INCR", "n"], ["APPEND", "keep", "x"]):
            assert replies_agree(cs, *cmd) == ("err", OOM_PY)
        # On the wire, with its error code.
        for s in servers:
            with socket.create_connection(("127.0.0.1", s.port)) as sock:
                sock.sendall(resp("SET", "x", "1"))
                assert sock.recv(1000) == f"-{OOM}\r\n".encode()
        assert replies_agree(cs, "GET", "keep") == ("ok", b"1")
        assert replies_agree(cs, "DEL", "fill:1") == ("ok", 1)
        assert replies_agree(cs, "LPOP", "list") == ("ok", b"a")
        assert replies_agree(cs, "EXPIRE", "keep", "100") == ("ok", 1)
        # Inside MULTI: anything queued is refused, and EXEC aborts the transaction.
        outs = []
        for c in cs:
            conn = c.connection_pool.get_connection()
            try:
                replies = []
                for cmd in (["MULTI"], ["GET", "keep"], ["SET", "y", "1"], ["EXEC"]):
                    conn.send_command(*cmd)
                    try:
                        replies.append(conn.read_response())
                    except redis.ResponseError as e:
                        replies.append(("err", str(e)))
                outs.append(replies)
            finally:
                c.connection_pool.release(conn)
        assert outs[0] == outs[1], outs
        assert outs[0][1] == ("err", OOM_PY)
        assert outs[0][3] == ("err", "Transaction discarded because of previous errors.")
        # A transaction queued before the limit, whose EXEC holds a denyoom command.
        outs = []
        for c in cs:
            c.config_set("maxmemory", "0")
            conn = c.connection_pool.get_connection()
            try:
                replies = []
                for cmd in (["MULTI"], ["SET", "z", "1"]):
                    conn.send_command(*cmd)
                    replies.append(conn.read_response())
                c.config_set("maxmemory", str(c.info("memory")["used_memory"] - 100000))
                conn.send_command("EXEC")
                try:
                    replies.append(conn.read_response())
                except redis.ResponseError as e:
                    replies.append(("err", str(e)))
                outs.append(replies)
            finally:
                c.connection_pool.release(conn)
        assert outs[0] == outs[1], outs
        assert outs[0][2] == ("err", f"Transaction discarded because of: {OOM}")
        for c in cs:
            assert c.info("stats")["evicted_keys"] == 0
            assert c.info("memory")["maxmemory_policy"] == "noeviction"
    finally:
        stop_all(servers)


def test_config_maxmemory_parsing_and_introspection_as_redis(tmp_path):
    servers = start_pair(tmp_path)
    try:
        cs = [s.client() for s in servers]
        for v in ("100mb", "1gb", "10k", "1024", "5MB", "0"):
            replies_agree(cs, "CONFIG", "SET", "maxmemory", v)
            replies_agree(cs, "CONFIG", "GET", "maxmemory")
        for bad in ("-1", "1x", "abc", "1.5mb"):
            replies_agree(cs, "CONFIG", "SET", "maxmemory", bad)
        for p in ("allkeys-lru", "volatile-ttl", "ALLKEYS-LFU", "lru", "noeviction"):
            replies_agree(cs, "CONFIG", "SET", "maxmemory-policy", p)
            replies_agree(cs, "CONFIG", "GET", "maxmemory-policy")
        for name, vals in (("maxmemory-samples", ("10", "0", "x")),
                           ("maxmemory-eviction-tenacity", ("50", "101")),
                           ("lfu-log-factor", ("5", "-1")), ("lfu-decay-time", ("0", "x"))):
            for v in vals:
                replies_agree(cs, "CONFIG", "SET", name, v)
                replies_agree(cs, "CONFIG", "GET", name)
        # OBJECT FREQ / IDLETIME under each kind of policy.
        for c in cs:
            c.set("k", "v")
        for policy in ("allkeys-lru", "allkeys-lfu", "noeviction", "volatile-lfu"):
            replies_agree(cs, "CONFIG", "SET", "maxmemory-policy", policy)
            replies_agree(cs, "OBJECT", "IDLETIME", "k")
            replies_agree(cs, "OBJECT", "FREQ", "nokey")
            if "lfu" in policy:
                fresh = f"fresh-{policy}"
                for c in cs:
                    c.set(fresh, "v")
                # A new key starts at LFU_INIT_VAL; reads raise it (probabilistically).
                assert replies_agree(cs, "OBJECT", "FREQ", fresh) == ("ok", 5)
                for c in cs:
                    for _ in range(100):
                        c.get(fresh)
                freqs = [c.object("freq", fresh) for c in cs]
                assert all(f > 5 for f in freqs), freqs
            else:
                replies_agree(cs, "OBJECT", "FREQ", "k")
        # INFO fields.
        for c in cs:
            c.config_set("maxmemory", "123mb")
        a, r = (c.info("memory") for c in cs)
        for f in ("maxmemory", "maxmemory_human", "maxmemory_policy"):
            assert a[f] == r[f], f
        assert "mem_not_counted_for_evict" in a
        a, r = (c.info("stats") for c in cs)
        assert a["evicted_keys"] == r["evicted_keys"] == 0
        # Time spent over the limit (the small limits above): milliseconds, timing-dependent.
        for f in ("total_eviction_exceeded_time", "current_eviction_exceeded_time"):
            assert isinstance(a[f], int) and isinstance(r[f], int), f
        assert a["current_eviction_exceeded_time"] == 0
    finally:
        stop_all(servers)


def test_evictions_announced_and_aof_replays_to_same_dataset(new_amber, tmp_path):
    s = new_amber("--appendonly", "yes", "--maxmemory", str(4 * 1024 * 1024),
                  "--maxmemory-policy", "allkeys-lru", "--notify-keyspace-events", "Ee",
                  dir=tmp_path / "aof")
    c = s.client()
    sub = s.client().pubsub()
    sub.psubscribe("__keyevent@*__:evicted")
    sub.get_message(timeout=1)
    for i in range(8000):
        c.set(f"k:{i}", VALUE)
        if i % 3 == 0:
            c.get(f"k:{i // 2}")
    # No more evictions from here: any command evicts first while memory is over the limit,
    # and a command's first call allocates its latency histogram (24 KB, as Redis's
    # hdr_init), so INFO then DBSIZE could evict between the two counts.
    c.config_set("maxmemory", "0")
    evicted = c.info("stats")["evicted_keys"]
    assert evicted > 1000
    assert c.dbsize() + evicted == 8000
    seen = set()
    deadline = time.time() + 5
    while len(seen) < evicted and time.time() < deadline:
        m = sub.get_message(timeout=0.5)
        if m and m["type"] == "pmessage":
            seen.add(m["data"])
    assert len(seen) == evicted
    digest = c.execute_command("DEBUG", "DIGEST")
    keys = sorted(c.keys())
    sub.close()
    s.stop()
    s.extra = ["--appendonly", "yes"]
    s.start()
    c = s.client()
    assert sorted(c.keys()) == keys
    assert c.execute_command("DEBUG", "DIGEST") == digest


def test_replica_follows_master_evictions(new_amber, tmp_path):
    m = new_amber("--maxmemory", str(4 * 1024 * 1024), "--maxmemory-policy", "allkeys-random",
                  dir=tmp_path / "m")
    # The replica has the same limit, and ignores it (replica-ignore-maxmemory yes): it only
    # applies the master's DELs.
    r = new_amber("--replicaof", "127.0.0.1", str(m.port), "--maxmemory", str(4 * 1024 * 1024),
                  dir=tmp_path / "r")
    mc, rc = m.client(), r.client()
    deadline = time.time() + 10
    while rc.info("replication")["master_link_status"] != "up":
        assert time.time() < deadline
        time.sleep(0.05)
    for i in range(6000):
        mc.set(f"k:{i}", VALUE)
    assert mc.info("stats")["evicted_keys"] > 1000
    # The master evicts no more (each command evicts first while memory is over the limit,
    # and the counts below would race with the last DELs on their way to the replica).
    mc.config_set("maxmemory", "0")
    deadline = time.time() + 10
    while rc.info("replication")["master_repl_offset"] != mc.info("replication")["master_repl_offset"]:
        assert time.time() < deadline
        time.sleep(0.05)
    assert rc.info("stats")["evicted_keys"] == 0
    assert rc.dbsize() == mc.dbsize()
    assert rc.execute_command("DEBUG", "DIGEST") == mc.execute_command("DEBUG", "DIGEST")


def test_eviction_during_a_snapshot_keeps_the_snapshot_whole(new_amber, tmp_path):
    # No save points: the shutdown below must not save the dataset over the snapshot.
    s = new_amber("--save", "", "--maxmemory-policy", "allkeys-random", dir=tmp_path / "snap")
    c = s.client()
    p = c.pipeline(transaction=False)
    for i in range(3000):
        p.set(f"k:{i}", VALUE)
    p.execute()
    digest = c.execute_command("DEBUG", "DIGEST")
    used = c.info("memory")["used_memory"]
    # A slow BGSAVE (300 us per key): the evictions below happen while it writes.
    c.config_set("rdb-key-save-delay", "300")
    c.bgsave()
    # Evict about a third of the data: the keys deleted are handed to the snapshot as they
    # were, and the memory they still hold for it is not counted (no eviction cascade).
    c.config_set("maxmemory", str(used - used // 3))
    c.get("k:0")
    assert c.info("persistence")["rdb_bgsave_in_progress"] == 1
    left = c.dbsize()
    assert 1000 < left < 2500, left
    assert c.info("stats")["evicted_keys"] >= 3000 - left
    deadline = time.time() + 30
    while c.info("persistence")["rdb_bgsave_in_progress"]:
        assert time.time() < deadline
        time.sleep(0.05)
    assert c.info("persistence")["rdb_last_bgsave_status"] == "ok"
    s.stop()
    s.extra = ["--save", ""]
    s.start()
    c = s.client()
    # The snapshot is the dataset as it was when BGSAVE started.
    assert c.dbsize() == 3000
    assert c.execute_command("DEBUG", "DIGEST") == digest
