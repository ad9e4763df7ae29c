"""The AOF rewrite's switch to a new incr file, failing at each step (strace fault injection on
the exact files: the new incr's create, the manifest's temp open / write / fsync, its rename,
the directory's fsync), at the start of a rewrite and when it installs the new base: the
append target moves only once a manifest naming the new file is on disk, so every write
acknowledged before, during and after the failure is loaded after a crash, redis-check-aof
passes, and the next BGREWRITEAOF succeeds. Also an AOF file whose size cannot be read
(refused, never loaded as empty), and the retry of the first rewrite after `appendonly yes`
(its incr starts over, so no write is loaded twice)."""

import os
import shutil
import signal
import subprocess
import threading
import time

import pytest
import redis

from conftest import ServerProc

AOF = ["--appendonly", "yes", "--save", ""]
ADIR = "appendonlydir"
MANIFEST = f"{ADIR}/appendonly.aof.manifest"
TEMP_MANIFEST = f"{ADIR}/temp-appendonly.aof.manifest"
NEW_INCR = f"{ADIR}/appendonly.aof.2.incr.aof"
CANT = "Can't execute an AOF background rewriting. Please check the server logs for more information."


class Straced(ServerProc):
    """amber-server with strace attached (all its threads, and the ones it starts), a fault
    injected into the syscalls on `paths` (relative to the server's directory; strace also
    gets their absolute forms, for calls on descriptors). `detach` ends strace and leaves the
    server running untraced."""

    def __init__(self, d, extra, calls, inject, paths):
        super().__init__("amber", d, extra)
        self.calls, self.inject, self.paths = calls, inject, paths
        self.strace = None

    def start(self, timeout=30):
        assert shutil.which("strace"), "strace is needed (apt-get install strace)"
        super().start(timeout)
        p = []
        for rel in self.paths:
            p += ["-P", rel, "-P", str(self.dir / rel)]
        argv = ["strace", "-f", "-qq", "-o", "/dev/null", *p, "-e", f"trace={self.calls}",
                "-e", f"inject={self.calls}:{self.inject}", "-p", str(self.pid)]
        self.strace = subprocess.Popen(argv, cwd=self.dir, stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while not self.traced():
            assert self.strace.poll() is None, "strace could not attach"
            assert time.time() < deadline, "strace did not attach"
            time.sleep(0.01)
        return self

    def traced(self):
        tasks = os.listdir(f"/proc/{self.pid}/task")
        for t in tasks:
            with open(f"/proc/{self.pid}/task/{t}/status") as f:
                if "TracerPid:\t0\n" in f.read():
                    return False
        return bool(tasks)

    def detach(self):
        if self.strace is not None and self.strace.poll() is None:
            self.strace.terminate()
            self.strace.wait(15)
        self.client().ping()

    def stop(self, sig=signal.SIGKILL, timeout=15):
        super().stop(sig, timeout)
        if self.strace is not None:
            self.strace.wait(15)


def check_aof(adir):
    p = subprocess.run(["redis-check-aof", str(adir / "appendonly.aof.manifest")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "All AOF files and manifest are valid" in p.stdout, p.stdout + p.stderr


def wait_rewrite(c, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = c.info("persistence")
        if not info["aof_rewrite_in_progress"]:
            return info
        time.sleep(0.02)
    raise AssertionError("the AOF rewrite did not finish")


class Writer(threading.Thread):
    """SETs w0, w1, ... until stopped; `acked` counts the acknowledged ones."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.c = redis.Redis(port=port, socket_timeout=30)
        self.stopped = threading.Event()
        self.acked = 0
        self.error = None

    def run(self):
        try:
            while not self.stopped.is_set():
                self.c.set(f"w{self.acked}", self.acked)
                self.acked += 1
        except Exception as e:  # reported by the test
            self.error = e

    def finish(self):
        self.stopped.set()
        self.join(30)
        assert self.error is None, self.error
        return self.acked


def put(c, prefix, n):
    p = c.pipeline(transaction=False)
    for i in range(n):
        p.set(f"{prefix}{i}", i)
    assert all(p.execute())


def assert_loaded(d, counts):
    """Starts a plain server on `d` and checks every acknowledged key, then stops it."""
    check_aof(d / ADIR)
    s = ServerProc("amber", d, AOF).start()
    try:
        c = s.client()
        for prefix, n in counts.items():
            p = c.pipeline(transaction=False)
            for i in range(n):
                p.get(f"{prefix}{i}")
            got = p.execute()
            missing = [i for i, v in enumerate(got) if v != str(i).encode()]
            assert not missing, f"{prefix}: {len(missing)} of {n} acknowledged writes lost, first {missing[:5]}"
    finally:
        s.stop()


# (step, syscalls (the manifest is written with pwrite64: AtomicFile writes at offsets through
# amber-persist's storage interface), injected error, the paths it applies to, the occurrence that fails, the
# log line expected; strace 6.1 matches rename by its source path only). strace counts
# occurrences per thread: on the main thread, manifest write 1 is the switch at the
# rewrite's start, 2 the new base's install (the base file's own directory fsync is the
# rewrite thread's, which does only one).
STEPS = [
    ("create-incr", "openat", "error=ENOSPC", [NEW_INCR], 1,
     "Can't open the append-only file appendonly.aof.2.incr.aof: No space left on device"),
    ("manifest-open", "openat", "error=EACCES", [TEMP_MANIFEST], 1,
     "Can't open the AOF manifest file temp-appendonly.aof.manifest: Permission denied"),
    ("manifest-write", "write,pwrite64", "error=ENOSPC", [TEMP_MANIFEST], 1,
     "Error trying to write the temporary AOF manifest file temp-appendonly.aof.manifest: No space left on device"),
    ("manifest-fsync", "fsync", "error=EIO", [TEMP_MANIFEST], 1,
     "Fail to fsync the temp AOF file temp-appendonly.aof.manifest: Input/output error."),
    ("manifest-rename", "rename,renameat,renameat2", "error=EIO", [TEMP_MANIFEST], 1,
     "Error trying to rename the temporary AOF manifest file temp-appendonly.aof.manifest into appendonly.aof.manifest: Input/output error"),
    ("dir-fsync", "fsync", "error=EIO", [ADIR], 1, "Fail to fsync AOF directory "),
    ("install-manifest-write", "write,pwrite64", "error=ENOSPC", [TEMP_MANIFEST], 2,
     "Error trying to write the temporary AOF manifest file temp-appendonly.aof.manifest: No space left on device"),
    ("install-manifest-rename", "rename,renameat,renameat2", "error=EIO", [TEMP_MANIFEST], 2,
     "Error trying to rename the temporary AOF manifest file"),
    ("install-dir-fsync", "fsync", "error=EIO", [ADIR], 2, "Fail to fsync AOF directory "),
]


@pytest.mark.parametrize("policy", ["always", "everysec"])
@pytest.mark.parametrize("step,calls,error,paths,when,logged", STEPS, ids=[s[0] for s in STEPS])
def test_failed_switch_loses_nothing_and_the_next_rewrite_succeeds(tmp_path, policy, step, calls, error,
                                                                   paths, when, logged):
    d = tmp_path / "a"
    extra = AOF + ["--appendfsync", policy]
    s = ServerProc("amber", d, extra).start()
    put(s.client(), "before", 300)
    s.stop()
    manifest_before = (d / MANIFEST).read_text()
    assert manifest_before.endswith("file appendonly.aof.1.incr.aof seq 1 type i\n")

    s = Straced(d, extra, calls, f"{error}:when={when}", paths).start()
    try:
        c = s.client()
        put(c, "pre", 300)
        w = Writer(s.port)
        w.start()
        while w.acked < 50 and w.is_alive():
            time.sleep(0.01)
        at_install = step.startswith("install")
        if at_install:
            assert c.bgrewriteaof()  # "started": the failure comes when the base is installed
            info = wait_rewrite(c)
        else:
            with pytest.raises(redis.ResponseError, match="Can't execute an AOF background rewriting"):
                c.bgrewriteaof()
            info = c.info("persistence")
        assert info["aof_last_bgrewrite_status"] == "err"
        put(c, "after", 300)
        during = w.finish()
        assert during >= 50
        if step == "dir-fsync":
            # The new manifest is visible (only its directory entry may not be durable): the
            # incr it names stays, empty, and appending goes on in incr 1, which it names too.
            assert (d / MANIFEST).read_text() == manifest_before + "file appendonly.aof.2.incr.aof seq 2 type i\n"
            assert (d / NEW_INCR).stat().st_size == 0
        elif not at_install:
            assert (d / MANIFEST).read_text() == manifest_before
            assert not (d / NEW_INCR).exists(), "the new incr file of the failed switch was not removed"
        assert not (d / TEMP_MANIFEST).exists()
        log = s.log_path.read_text()
        assert logged in log, log[-3000:]
        # A crash now: what a restart finds.
        crash = tmp_path / "crash"
        shutil.copytree(d / ADIR, crash / ADIR)
        # strace lets go of the server (a new rewrite thread would count its own first call).
        s.detach()

        # The next attempt succeeds, and writes go on.
        w2 = Writer(s.port)
        w2.start()
        assert c.bgrewriteaof()
        info = wait_rewrite(c)
        assert info["aof_last_bgrewrite_status"] == "ok", s.log_path.read_text()[-3000:]
        put(c, "final", 300)
        during2 = w2.finish()
    finally:
        s.stop()
    assert_loaded(crash, {"before": 300, "pre": 300, "w": during, "after": 300})
    w_all = max(during, during2)
    assert_loaded(d, {"before": 300, "pre": 300, "w": w_all, "after": 300, "final": 300})
    text = (d / MANIFEST).read_text()
    assert "type b" in text and "appendonly.aof.1.incr.aof" not in text, text


def test_aof_file_whose_size_cannot_be_read_is_refused(tmp_path):
    """fstat of an incr file failing at start-up: the server refuses to start (it used to load
    the file as empty, then append over it from offset 0)."""
    d = tmp_path / "a"
    s = ServerProc("amber", d, AOF).start()
    put(s.client(), "k", 100)
    s.stop()
    incr = f"{ADIR}/appendonly.aof.1.incr.aof"
    size = (d / incr).stat().st_size
    assert size > 0
    argv = ServerProc("amber", d, AOF).argv()
    out = d / "straced.log"
    with open(out, "wb") as f:
        p = subprocess.Popen(["strace", "-f", "-qq", "-o", "/dev/null", "-P", incr, "-P", str(d / incr),
                              "-e", "trace=statx,fstat,newfstatat",
                              "-e", "inject=statx,fstat,newfstatat:error=EIO"] + argv,
                             cwd=d, stdout=f, stderr=subprocess.STDOUT)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            # It started: stop the server (strace's child) by its PID, then strace.
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as ch:
                for pid in ch.read().split():
                    os.kill(int(pid), signal.SIGKILL)
            p.wait(15)
            raise AssertionError("the server started with an AOF file whose size it could not read")
    log = out.read_text()
    assert p.returncode != 0, log[-2000:]
    # Redis names the file without its directory; Amber adds where the manifest is.
    assert "Unable to obtain the AOF file appendonly.aof.1.incr.aof length. stat: Input/output error" in log, log[-2000:]
    assert (d / incr).stat().st_size == size
    assert_loaded(d, {"k": 100})


def test_first_rewrite_retried_after_appendonly_yes_loads_each_write_once(tmp_path):
    """CONFIG SET appendonly yes: the first rewrite's install fails (its manifest rename), the
    server retries. INCRs run while the first snapshot was written are in that snapshot's
    successor: the incr file starts over at the retry, or they would be loaded twice."""
    d = tmp_path / "a"
    # 20,000 keys at 50 us each: the first snapshot takes about a second however loaded the
    # machine is, so the 100 INCRs surely run during it (300,000 keys without a delay could
    # finish first on a fast run).
    s = Straced(d, ["--save", "", "--appendonly", "no", "--rdb-key-save-delay", "50"],
                "rename,renameat,renameat2", "error=EIO:when=1", [TEMP_MANIFEST]).start()
    try:
        c = s.client()
        c.execute_command("DEBUG", "POPULATE", "20000")
        c.config_set("appendonly", "yes")
        for _ in range(100):
            c.incr("counter")
        info = c.info("persistence")
        assert info["aof_rewrite_in_progress"] == 1, "the INCRs must run during the first rewrite"
        deadline = time.time() + 60
        while time.time() < deadline:
            info = c.info("persistence")
            if info["aof_rewrites"] >= 2 and not info["aof_rewrite_in_progress"] and info["aof_last_bgrewrite_status"] == "ok":
                break
            time.sleep(0.05)
        assert info["aof_last_bgrewrite_status"] == "ok", info
        assert info["aof_rewrites_consecutive_failures"] == 0
        assert "Error trying to rename the temporary AOF manifest file" in s.log_path.read_text()
        for _ in range(10):
            c.incr("counter")
        assert c.get("counter") == b"110"
    finally:
        s.stop()
    check_aof(d / ADIR)
    s = ServerProc("amber", d, AOF).start()
    try:
        assert s.client().get("counter") == b"110"
    finally:
        s.stop()
