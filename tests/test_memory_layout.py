"""Memory per key (issue 18): what the layout costs, what INFO memory and MEMORY USAGE report.

The byte counts are Amber's own layout (see crates/store/src/memory.rs); the bounds below are
what that layout allows, so a regression in the allocator setup or the entry size fails them."""

import pathlib
import time

from conftest import ServerProc


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def populate_rss(tmp_path, name, keys, size):
    s = ServerProc("amber", tmp_path / name, ["--save", ""]).start()
    try:
        c = s.client(socket_timeout=60)
        base = rss_bytes(s.pid)
        c.execute_command("DEBUG", "POPULATE", str(keys), "key", str(size))
        time.sleep(0.3)
        return rss_bytes(s.pid) - base, c.info("memory")
    finally:
        s.stop()


def test_rss_follows_the_size_class_of_a_value(tmp_path):
    # 92-byte values take 104-byte blocks, 100-byte values 112-byte blocks: 8 bytes apart.
    # Allocating through mi_malloc_aligned put the 112-byte ones in the 128-byte class
    # (16.8 bytes apart per key, measured).
    keys = 400_000
    small, _ = populate_rss(tmp_path, "v92", keys, 92)
    big, info = populate_rss(tmp_path, "v100", keys, 100)
    assert (big - small) / keys < 12, (small, big)
    # Entry with its share of array and index (~58 bytes) plus the 112-byte block. With the
    # entries inside the hash table (~83 bytes) it was 205.
    assert big / keys < 185, big / keys
    assert 1.0 <= info["mem_fragmentation_ratio"] < 1.5, info


def test_info_memory_overhead_is_the_keyspace_tables(amber_server):
    c = amber_server.client()
    c.flushall()
    empty = c.info("memory")
    c.execute_command("DEBUG", "POPULATE", "200000", "key", "100")
    m = c.info("memory")
    overhead = m["used_memory_overhead"] - empty["used_memory_overhead"]
    # 48-byte entries in arrays at most a quarter spare, plus 3 bytes per index bucket in
    # indexes between 44% and 87.5% full (entries inside the hash table took about 82).
    assert 48 + 3 / 0.875 <= overhead / 200_000 <= 48 * 1.25 + 3 / 0.44, overhead
    assert m["used_memory_dataset"] == m["used_memory"] - m["used_memory_overhead"]
    # The rest is mostly the values' 112-byte blocks.
    assert m["used_memory_dataset"] - empty["used_memory_dataset"] >= 200_000 * 112


def test_memory_usage_follows_the_layout(amber_server):
    c = amber_server.client()
    c.flushall()
    c.set("raw", "x" * 100)
    c.set("emb", "abc")
    c.set("k" * 20, "1")
    c.hset("h", mapping={"f1": "value1", "f2": "value2"})
    entry = c.memory_usage("emb")
    assert c.memory_usage("raw") == entry + 112
    assert c.memory_usage("k" * 20) == entry + 16 + 20
    # Packed hash: one block, an 8-byte header (count of references, count of pairs) and one
    # length byte per string plus its bytes; no Arc block.
    assert c.memory_usage("h") == entry + 8 + 2 * (3 + 7)


def test_no_transparent_huge_pages(new_amber):
    """mimalloc would ask for transparent huge pages (MADV_HUGEPAGE), where the kernel's mode is
    `madvise` (this machine's) or `always`; a 2 MiB page is resident as soon as one byte of it is
    touched. Amber asks for none, and turns them off under `always` (disable-thp yes), so after
    filling 200k keys no anonymous huge page is resident."""
    mode = pathlib.Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    assert "[never]" not in mode, f"THP is off on this machine ({mode.strip()}): nothing to check"
    s = new_amber()
    c = s.client()
    c.execute_command("DEBUG", "POPULATE", "200000")
    rollup = pathlib.Path(f"/proc/{s.pid}/smaps_rollup").read_text()
    huge = [ln for ln in rollup.splitlines() if ln.startswith("AnonHugePages:")]
    assert huge and huge[0].split()[1] == "0", huge
