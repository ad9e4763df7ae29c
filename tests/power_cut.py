"""Power cuts on a real file system: the machinery shared by tests/test_power_cut.py (a few
cycles) and bench/power_cut.py (the long run and its table).

A sparse image file is formatted ext4, attached to a loop device and mounted; Amber runs with
its `dir` on it. Writers on several connections (some pipelined) send writes whose values say
who sent them and when (`SET k:<cycle>:<conn>:<seq>`, `RPUSH l:<cycle>:<conn> <seq>`,
`INCR n:<cycle>:<conn>`) and keep the time of every reply they got. At a random moment the
file system is shut down as a power cut would stop it (`LoopDisk.cut`), Amber is killed -9,
the file system is unmounted, the loop device detached and attached again (nothing of the
old block cache survives), mounted again (ext4 replays its journal), and Amber restarts on
the same directory. Then, per connection, what survived must be a prefix of what was sent;
acknowledged writes that are missing are counted as lost, writes present that were never
acknowledged are counted too (they can only be the last ones in flight). Replies read after
the cut began are counted apart (`Ack` says why). Every restart must find an AOF that passes
redis-check-aof, or one whose cut-short tail the server repairs (aof-load-truncated).

Needs root (or password-less sudo), losetup, mkfs.ext4 and xfs_io (Debian's xfsprogs;
scripts/test installs it). A machine that cannot create a loop device fails loudly.
"""

import bisect
import dataclasses
import os
import pathlib
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import redis

from conftest import ServerProc, amber_bin, resp

# The everysec guarantee: the writes of about the last second, at most two when an fsync is
# slow (Redis's postponed fsync). The margin covers the writer threads' own scheduling on a
# loaded 2-core machine: a reply is timestamped when the Python thread gets to read it.
EVERYSEC_WINDOW_S = 2.0
EVERYSEC_MARGIN_S = 1.0

# Connections per cycle and how many commands each sends before reading the replies.
PIPELINES = (1, 1, 1, 1, 16, 64)


def tool(name):
    """The path of an administration tool (/usr/sbin is not on every user's PATH)."""
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def as_root(argv):
    argv = [tool(argv[0]) or argv[0]] + list(argv[1:])
    return argv if os.geteuid() == 0 else ["sudo", "-n"] + argv


def run(argv, what, timeout=120):
    try:
        p = subprocess.run(as_root(argv), capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"{what}: `{' '.join(argv)}` failed: {e}") from e
    if p.returncode != 0:
        raise RuntimeError(f"{what}: `{' '.join(argv)}` exited {p.returncode}: "
                           f"{(p.stderr or p.stdout).strip()}")
    return p.stdout


class LoopDisk:
    """An ext4 file system in a sparse image on a loop device, mounted at `mnt`; Amber's
    directory is `data`. Used as a context manager: whatever happens, the mount and the loop
    device are gone on exit."""

    def __init__(self, workdir, size_mb=512):
        self.workdir = pathlib.Path(workdir)
        self.image = self.workdir / "ext4.img"
        self.mnt = self.workdir / "mnt"
        self.data = self.mnt / "amber"
        self.size = size_mb << 20
        self.loop = None
        self.mounted = False
        self.remounts = 0
        self.xfs_io = None

    def __enter__(self):
        try:
            self._create()
        except BaseException:
            self.close(quiet=True)
            raise
        return self

    def __exit__(self, kind, exc, tb):
        self.close(quiet=exc is not None)

    def _create(self):
        missing = [t for t in ("losetup", "mkfs.ext4", "xfs_io", "mount", "umount") if tool(t) is None]
        if missing:
            raise RuntimeError(f"power-cut tests need {', '.join(missing)} (xfs_io: apt-get install "
                               "xfsprogs; scripts/test installs it)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.image, "wb") as f:
            f.truncate(self.size)
        run(["mkfs.ext4", "-q", "-F", str(self.image)], "formatting the image ext4")
        self.mnt.mkdir(exist_ok=True)
        self._attach_and_mount()
        if os.geteuid() != 0:
            run(["chown", f"{os.getuid()}:{os.getgid()}", str(self.mnt)], "giving the mount to the test user")
        self.data.mkdir()

    def _attach_and_mount(self):
        try:
            self.loop = run(["losetup", "--find", "--show", str(self.image)],
                            "cannot create a loop device (root and /dev/loop-control are needed)").strip()
        except RuntimeError:
            self.loop = None
            raise
        run(["mount", "-t", "ext4", self.loop, str(self.mnt)], "mounting the ext4 image")
        self.mounted = True

    def cut(self):
        """The power cut: the file system stops at once, as if the machine lost power. Every
        later write or fsync gets EIO; after a remount only what had reached the device is
        there, and ext4 replays the transactions its journal had committed on it.

        `xfs_io -x -c shutdown` without -f issues FS_IOC_SHUTDOWN with NOLOGFLUSH: the
        journal is aborted without writing the transaction in memory. That is a power cut:
        metadata changes that no fsync had forced to the journal (an AOF's new size, a
        rename without the directory's fsync) are lost with it. With -f (LOGFLUSH) ext4 would
        first commit the running transaction, making those changes durable as if they had
        been fsynced: a missing fsync in Amber would go unnoticed, so -f is the wrong
        simulation. In both modes, file data still in the page cache is never written.

        What it does not simulate: the device itself losing its volatile write cache. The
        loop device writes into the host's page cache, which survives; so a block the file
        system submitted without a flush survives here where a real disk could drop it."""
        if self.xfs_io is None:
            self.arm()
        p, self.xfs_io = self.xfs_io, None
        try:
            p.stdin.write(b"shutdown\n")
            p.stdin.close()  # xfs_io runs the command, then quits at the end of its input
            out = p.stdout.read().decode(errors="replace")
            rc = p.wait(30)
        except (OSError, subprocess.TimeoutExpired) as e:
            p.kill()
            raise RuntimeError(f"xfs_io shutdown failed: {e}") from e
        if rc != 0 or out.strip():
            raise RuntimeError(f"xfs_io -x -c shutdown {self.mnt} exited {rc}: {out.strip()}")
        try:
            (self.mnt / "after-the-cut").write_bytes(b"x")
        except OSError:
            return  # EIO: the file system is down
        raise RuntimeError(f"{self.mnt} still takes writes after xfs_io shutdown")

    def arm(self):
        """Starts `xfs_io -x <mount>` waiting for its command on a pipe, so that the cut is a
        write to that pipe: no process start (milliseconds, during which replies keep
        coming) between the moment chosen for the cut and the ioctl."""
        self.disarm()
        self.xfs_io = subprocess.Popen(as_root(["xfs_io", "-x", str(self.mnt)]), stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def disarm(self):
        if self.xfs_io is not None:
            p, self.xfs_io = self.xfs_io, None
            p.stdin.close()
            p.wait(30)

    def remount(self):
        """Unmount, detach the loop device, attach it again and mount: ext4 replays its
        journal, and no cached block of the old mount can hide what is on the device."""
        self._unmount()
        self._detach()
        self._attach_and_mount()
        self.remounts += 1

    def _unmount(self):
        if not self.mounted:
            return
        last = None
        for _ in range(20):
            try:
                run(["umount", str(self.mnt)], "unmounting")
                self.mounted = False
                return
            except RuntimeError as e:
                last = e
                time.sleep(0.1)
        run(["umount", "-l", str(self.mnt)], f"lazy unmount after: {last}")
        self.mounted = False

    def _detach(self):
        if self.loop is not None:
            run(["losetup", "-d", self.loop], "detaching the loop device")
            self.loop = None

    def close(self, quiet=False):
        errors = []
        for step in (self.disarm, self._unmount, self._detach):
            try:
                step()
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                errors.append(str(e))
        try:
            self.image.unlink(missing_ok=True)
        except OSError as e:
            errors.append(f"removing {self.image}: {e}")
        if errors:
            msg = "power-cut cleanup failed: " + "; ".join(errors)
            if quiet:
                print(msg, file=sys.stderr)
            else:
                raise RuntimeError(msg)


# ---- writers ---------------------------------------------------------------------------------

def op_kind(seq):
    return ("set", "rpush", "incr")[seq % 3]


def op_command(cycle, conn, seq):
    kind = op_kind(seq)
    if kind == "set":
        return resp("SET", f"k:{cycle}:{conn}:{seq}", f"v{cycle}:{conn}:{seq}")
    if kind == "rpush":
        return resp("RPUSH", f"l:{cycle}:{conn}", seq)
    return resp("INCR", f"n:{cycle}:{conn}")


def expected_reply(seq):
    """SET answers +OK; RPUSH and INCR count the writes of their kind so far."""
    return b"+OK" if op_kind(seq) == "set" else b":%d" % (seq // 3 + 1)


class Writer(threading.Thread):
    """One connection sending `depth` commands at a time. `sent[i]` is when command i was
    handed to the socket (taken before the send, so never later than the truth); `acked[i]`
    when its reply was read (never earlier). Replies arrive in order, so the acknowledged
    commands are exactly the first len(acked)."""

    def __init__(self, port, cycle, conn, depth, stop):
        super().__init__(daemon=True)
        self.port, self.cycle, self.conn, self.depth, self.stop = port, cycle, conn, depth, stop
        self.sent = []
        self.acked = []
        self.refused = None  # the first error reply, after which the writer stops
        self.wrong = None  # a reply that is not the one expected: a server bug

    def run(self):
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        except OSError:
            return
        buf = bytearray()
        try:
            while not self.stop.is_set():
                first = len(self.sent)
                batch = b"".join(op_command(self.cycle, self.conn, s) for s in range(first, first + self.depth))
                self.sent.extend([time.monotonic()] * self.depth)
                sock.sendall(batch)
                for seq in range(first, first + self.depth):
                    line = self._line(sock, buf)
                    if line is None:
                        return
                    if line.startswith(b"-"):
                        self.refused = line.decode(errors="replace")
                        return
                    if line != expected_reply(seq):
                        self.wrong = (seq, line)
                        return
                    self.acked.append(time.monotonic())
        except OSError:
            return
        finally:
            sock.close()

    @staticmethod
    def _line(sock, buf):
        while True:
            i = buf.find(b"\r\n")
            if i >= 0:
                line = bytes(buf[:i])
                del buf[: i + 2]
                return line
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buf += chunk


# ---- what survived ---------------------------------------------------------------------------

@dataclasses.dataclass
class Survivors:
    """One connection's writes after a restart: the first `count` of what it sent."""
    count: int
    keys: int  # keys of this connection in the dataset
    list_items: list
    counter: int


def survivors(c, cycle, conn, sent):
    """Reads back connection `conn`'s writes of `cycle` and checks that they are a prefix of
    what it sent, with the values it sent."""
    sets = [s for s in range(sent) if op_kind(s) == "set"]
    present = set()
    for i in range(0, len(sets), 5000):
        chunk = sets[i: i + 5000]
        p = c.pipeline(transaction=False)
        for s in chunk:
            p.get(f"k:{cycle}:{conn}:{s}")
        for s, v in zip(chunk, p.execute()):
            if v is not None:
                assert v == f"v{cycle}:{conn}:{s}".encode(), (cycle, conn, s, v)
                present.add(s)
    items = [int(x) for x in c.lrange(f"l:{cycle}:{conn}", 0, -1)]
    counter = int(c.get(f"n:{cycle}:{conn}") or 0)
    pushes = [s for s in range(sent) if op_kind(s) == "rpush"]
    assert items == pushes[: len(items)], f"cycle {cycle} conn {conn}: list {items[:10]}... is not a prefix"
    present.update(items)
    incrs = [s for s in range(sent) if op_kind(s) == "incr"]
    assert counter <= len(incrs), f"cycle {cycle} conn {conn}: counter {counter} > {len(incrs)} INCRs sent"
    present.update(incrs[:counter])
    count = 0
    while count in present:
        count += 1
    stray = sorted(s for s in present if s >= count)
    assert not stray, (f"cycle {cycle} conn {conn}: writes {stray[:10]} survived but write {count} "
                       f"before them did not (not a prefix of what was sent)")
    keys = len([s for s in sets if s in present]) + (1 if items else 0) + (1 if counter else 0)
    return Survivors(count, keys, items, counter)


# ---- AOF cycles ------------------------------------------------------------------------------

@dataclasses.dataclass
class AofCycle:
    cycle: int
    ran_s: float
    acked: int  # replies read before the cut began
    lost: int  # of those, writes missing after the restart
    during_cut: int  # replies read after the cut began (see `Ack`)
    during_cut_lost: int  # of those, writes missing
    unacked_present: int  # writes there whose reply never came
    window_s: float  # cut time minus the earliest acknowledged-and-lost write's reply (0: none lost)
    aof_verdict: str  # redis-check-aof before the restart: "valid" or its complaint
    repaired: bool  # the server cut a truncated tail (aof-load-truncated)
    zero_tail: int  # NUL bytes that ended the AOF (refused, cut by check-aof --fix; see zero_tail)
    rewrite: bool  # a BGREWRITEAOF was started during the cycle
    refused: int  # connections that got an error reply after the cut


class Ack:
    """Which replies count as acknowledged: those read before the cut began.

    A real power cut is an instant: no reply leaves after it. The shutdown ioctl is not: an
    fdatasync that began before it can return 0 after it has begun (even after it returned)
    with its data dropped. A plain write + fdatasync loop in Python, no server involved,
    loses its last "synced" record that way in about 1 cut in 20, always one whose fdatasync
    returned after the ioctl began; Redis 7.0.15 under always does the same. So replies read
    after the cut began are counted apart (`during_cut`, `during_cut_lost`), and only the
    ones read before it are held to the policy's promise. A reply read before the cut left
    the server before it, so this never excuses a reply that left before its fsync."""

    def __init__(self, writer, t_cut):
        self.before = bisect.bisect_left(writer.acked, t_cut)
        self.all = len(writer.acked)


class Refused(RuntimeError):
    """The server did not start; `log` is its log."""

    def __init__(self, msg, log):
        super().__init__(msg)
        self.log = log


def zero_tail(d, said):
    """How many bytes of NULs end the AOF file that redis-check-aof stopped in (its output is
    `said`), when everything from where it stopped to the end is NUL, and that file is the
    last incr file of the manifest; 0 otherwise.

    ext4 can leave an appending file like this after a power cut: its new size reached the
    journal, the data of its last page did not. That happens when the file's pages are
    written back while appends continue (the commit of a journal transaction writes the
    data of the files in it: another file's fsync, such as a rewrite's new base, or ext4's
    5-second commit). Redis 7.0.15 and Amber both refuse such a file; `check-aof --fix`
    cuts it at the first NUL."""
    analyzed = re.findall(r"AOF analyzed: filename=(\S+), size=(\d+), ok_up_to=(\d+)", said)
    if not analyzed:
        return 0
    m = (None,) + analyzed[-1]  # the file it stopped in is the last one it analyzed
    aofdir = d / "appendonlydir"
    incrs = re.findall(r"^file (\S+) seq \d+ type i$", (aofdir / "appendonly.aof.manifest").read_text(), re.M)
    path, size, ok = aofdir / m[1], int(m[2]), int(m[3])
    if not incrs or m[1] != incrs[-1] or size <= ok:
        return 0
    with open(path, "rb") as f:
        f.seek(ok)
        rest = f.read()
    return len(rest) if len(rest) == size - ok and not rest.strip(b"\0") else 0


def fix_aof(d, kind):
    """The fix the refusal names: `amber check-aof --fix` (redis-check-aof --fix for Redis)."""
    manifest = str(d / "appendonlydir" / "appendonly.aof.manifest")
    if kind == "amber":
        cli = pathlib.Path(amber_bin()).with_name("amber")
        argv = [str(cli), "check-aof", "--fix", "--yes", manifest]
    else:
        argv = ["redis-check-aof", "--fix", manifest]
    p = subprocess.run(argv, input="y\n", capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"{' '.join(argv)}: {p.stdout}{p.stderr}"


def check_aof(d):
    """redis-check-aof on the manifest: (valid, what it said)."""
    manifest = d / "appendonlydir" / "appendonly.aof.manifest"
    p = subprocess.run(["redis-check-aof", str(manifest)], capture_output=True, text=True, timeout=120)
    ok = p.returncode == 0 and "All AOF files and manifest are valid" in p.stdout
    return ok, (p.stdout + p.stderr).strip()


def start_server(disk, logdir, name, extra, kind="amber"):
    """Amber (or Redis, for comparison) on the loop-mounted directory."""
    s = ServerProc(kind, disk.data, extra)
    s.log_path = pathlib.Path(logdir) / f"{kind}-{name}.log"  # off the file system that is cut
    return s.start(timeout=120)


def kill(s):
    if s.proc is not None and s.proc.poll() is None:
        os.kill(s.proc.pid, signal.SIGKILL)
        s.proc.wait(10)
    if not s.log.closed:
        s.log.close()


class AofRun:
    """Cycles of write, cut, remount, restart, compare under one appendfsync policy."""

    def __init__(self, disk, policy, logdir, seed, kind="amber"):
        self.disk, self.policy, self.logdir, self.kind = disk, policy, pathlib.Path(logdir), kind
        self.rnd = random.Random(seed)
        self.extra = ["--appendonly", "yes", "--appendfsync", policy, "--save", ""]
        self.no_loss_required = policy == "always"
        self.kept = []  # per finished cycle: [Survivors per connection]
        self.results = []
        self.server = None

    def run(self, cycles):
        try:
            self.server = start_server(self.disk, self.logdir, f"{self.policy}-start", self.extra, self.kind)
            ok, said = check_aof(self.disk.data)
            assert ok, f"the fresh AOF does not pass redis-check-aof: {said}"
            for n in range(cycles):
                self.results.append(self.cycle(n))
        finally:
            if self.server is not None:
                self.server.stop()
                if not self.server.log.closed:
                    self.server.log.close()
        return self.results

    def cycle(self, n):
        rewrite = n % 3 == 2
        stop = threading.Event()
        writers = [Writer(self.server.port, n, conn, depth, stop) for conn, depth in enumerate(PIPELINES)]
        self.disk.arm()
        t0 = time.monotonic()
        for w in writers:
            w.start()
        lo, hi = (1.0, 4.0) if self.policy == "everysec" else (0.3, 1.5)
        ran = self.rnd.uniform(lo, hi)
        if rewrite:
            time.sleep(ran * self.rnd.uniform(0.2, 0.8))
            rc = self.server.client(socket_timeout=10)
            rc.bgrewriteaof()
            rc.close()
        time.sleep(max(0.0, t0 + ran - time.monotonic()))
        t_cut = time.monotonic()
        self.disk.cut()
        time.sleep(self.rnd.uniform(0, 0.2))  # what the server does after the cut is seen
        kill(self.server)
        stop.set()
        for w in writers:
            w.join(30)
            assert not w.is_alive(), f"writer {w.conn} did not stop"
            assert w.wrong is None, f"connection {w.conn}: unexpected reply {w.wrong}"
        self.disk.remount()
        verdict, repaired, zeros = self.restart_and_check(n)
        c = self.server.client(socket_timeout=60)
        try:
            got = self.compare(c, n, writers, t_cut)
            self.recheck(c, n, got)
        finally:
            c.close()
        self.kept.append(got)
        acks = [Ack(w, t_cut) for w in writers]
        return AofCycle(n, ran, sum(a.before for a in acks), *self.tally(writers, acks, got, t_cut),
                        verdict, repaired, zeros, rewrite, sum(1 for w in writers if w.refused))

    def restart_and_check(self, n):
        """Restarts on the remounted directory (`self.server`) and checks the AOF it found:
        redis-check-aof passes; or the last command was cut short and the server repairs the
        tail (aof-load-truncated); or the file ends in NUL bytes (`zero_tail`), which the
        server must refuse with P003 and the fix command, and after `check-aof --fix` start.
        Returns (redis-check-aof's verdict, repaired, NUL bytes cut)."""
        verdict_ok, said = check_aof(self.disk.data)
        verdict = "valid" if verdict_ok else said.splitlines()[-1][:120]
        zeros = 0
        try:
            self.server = self.restart(f"{n}")
        except Refused as e:
            zeros = zero_tail(self.disk.data, said)
            if not zeros:
                raise
            if self.kind == "amber":
                assert "P003 AOF_CORRUPT" in e.log and "amber check-aof --fix" in e.log, e.log[-2000:]
            fix_aof(self.disk.data, self.kind)
            self.server = self.restart(f"{n}-fixed")
        log = self.server.log_path.read_text(errors="replace")
        repaired = "aof-load-truncated is enabled" in log
        if verdict_ok or zeros:
            assert not repaired, f"redis-check-aof found the AOF valid but the server cut it: {log[-2000:]}"
        else:
            assert repaired, (f"redis-check-aof: {said[-1500:]}\nand the server did not repair the tail: "
                              f"{log[-2000:]}")
        ok, after = check_aof(self.disk.data)
        assert ok, f"after the server's start the AOF does not pass redis-check-aof: {after[-1500:]}"
        return verdict, repaired, zeros

    def restart(self, name):
        """The server on the remounted directory; if it does not start, the directory is kept
        next to the logs for a look."""
        try:
            return start_server(self.disk, self.logdir, f"{self.policy}-{name}", self.extra, self.kind)
        except RuntimeError as e:
            kept = self.logdir / f"failed-{self.policy}-{name}"
            shutil.copytree(self.disk.data, kept)
            log = (self.logdir / f"{self.kind}-{self.policy}-{name}.log").read_text(errors="replace")
            raise Refused(f"cycle {name}: {self.kind} did not start after the power cut (directory kept in "
                          f"{kept}): {e}", log) from None

    def compare(self, c, n, writers, t_cut):
        got = [survivors(c, n, w.conn, len(w.sent)) for w in writers]
        # Across connections: a write whose reply was read before another connection sent
        # a write ran first; if that first write is lost, the later one must be lost too.
        lost_acks = [w.acked[s.count] for w, s in zip(writers, got) if s.count < len(w.acked)]
        if lost_acks:
            first_lost = min(lost_acks)
            for w, s in zip(writers, got):
                if s.count:
                    assert w.sent[s.count - 1] <= first_lost, (
                        f"cycle {n}: connection {w.conn}'s write {s.count - 1} survived though it was "
                        f"sent after the reply to a write that was lost")
        if self.no_loss_required:
            for w, s in zip(writers, got):
                before = Ack(w, t_cut).before
                assert s.count >= before, (
                    f"acknowledged writes lost under appendfsync {self.policy}: cycle {n}, connection {w.conn} "
                    f"(pipeline {w.depth}): {before} acknowledged before the cut, the first {s.count} "
                    f"survived; write {s.count} was acknowledged {t_cut - w.acked[s.count]:.3f} s before it")
                # Of the replies read after the cut began, only the batch whose fdatasync was
                # in flight at the ioctl can be missing: later writes fail with EIO.
                late_lost = len(w.acked) - max(before, s.count)
                assert late_lost <= w.depth, (
                    f"cycle {n}, connection {w.conn}: {late_lost} writes acknowledged after the cut began are "
                    f"lost, more than the one batch of {w.depth} that can have been in its fdatasync")
        return got

    def recheck(self, c, n, got):
        """Everything kept by earlier cycles is still there after this restart."""
        for cycle, kept in enumerate(self.kept):
            for conn, s in enumerate(kept):
                assert [int(x) for x in c.lrange(f"l:{cycle}:{conn}", 0, -1)] == s.list_items, (n, cycle, conn)
                assert int(c.get(f"n:{cycle}:{conn}") or 0) == s.counter, (n, cycle, conn)
        keys = sum(s.keys for kept in self.kept + [got] for s in kept)
        assert c.dbsize() == keys, f"cycle {n}: {c.dbsize()} keys, the survivors account for {keys}"

    def tally(self, writers, acks, got, t_cut):
        """lost, during_cut, during_cut_lost, unacked_present, window_s (see AofCycle)."""
        lost = sum(max(0, a.before - s.count) for a, s in zip(acks, got))
        during = sum(a.all - a.before for a in acks)
        during_lost = sum(max(0, a.all - max(a.before, s.count)) for a, s in zip(acks, got))
        unacked = sum(max(0, s.count - a.all) for a, s in zip(acks, got))
        lost_acks = [w.acked[s.count] for w, a, s in zip(writers, acks, got) if s.count < a.before]
        window = t_cut - min(lost_acks) if lost_acks else 0.0
        if self.policy == "everysec":
            assert window <= EVERYSEC_WINDOW_S + EVERYSEC_MARGIN_S, (
                f"appendfsync everysec lost writes acknowledged {window:.2f} s before the cut")
        return lost, during, during_lost, unacked, window


def run_aof(policy, cycles, workdir, seed=1, kind="amber"):
    workdir = pathlib.Path(workdir)
    with LoopDisk(workdir / "disk") as disk:
        return AofRun(disk, policy, workdir, seed, kind).run(cycles)


# ---- snapshots: a cut during SAVE or BGSAVE --------------------------------------------------

RDB_KEYS = 4000
RDB_KEY_SAVE_DELAY_US = 100  # the save then takes about 0.4 s: the cut lands in it or after it


def generation_value(gen, i):
    return f"{gen}:{i}:" + "x" * (40 + (gen % 7) * 13)  # each generation a different file size


def write_generation(c, gen):
    p = c.pipeline(transaction=False)
    for i in range(RDB_KEYS):
        p.set(f"d:{i}", generation_value(gen, i))
    p.set("gen", gen)
    p.execute()


def loaded_generation(c):
    """The generation the dataset holds (0: empty), after checking that every key is there
    with that generation's value: a torn snapshot loaded in part fails here."""
    size = c.dbsize()
    if size == 0:
        return 0
    gen = int(c.get("gen") or -1)
    assert size == RDB_KEYS + 1, f"{size} keys loaded, a snapshot has {RDB_KEYS + 1} (generation {gen})"
    names = [f"d:{i}" for i in range(RDB_KEYS)]
    for i in range(0, RDB_KEYS, 1000):
        for j, v in enumerate(c.mget(names[i: i + 1000]), start=i):
            assert v == generation_value(gen, j).encode(), f"d:{j} is {v!r}, not generation {gen}'s value"
    return gen


class Saver(threading.Thread):
    """Runs SAVE, or BGSAVE and polls INFO until it has finished; `done_at` is when its
    success was seen (None: not seen before the cut)."""

    def __init__(self, port, mode):
        super().__init__(daemon=True)
        self.port, self.mode = port, mode
        self.done_at = None
        self.failed = None

    def run(self):
        c = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=60)
        try:
            if self.mode == "SAVE":
                c.save()
                self.done_at = time.monotonic()
                return
            c.bgsave()
            while True:
                info = c.info("persistence")
                if not info["rdb_bgsave_in_progress"]:
                    if info["rdb_last_bgsave_status"] == "ok" and info["rdb_changes_since_last_save"] == 0:
                        self.done_at = time.monotonic()
                    else:
                        self.failed = info["rdb_last_bgsave_status"]
                    return
                time.sleep(0.002)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            self.failed = f"connection: {e}"
        except redis.ResponseError as e:
            self.failed = str(e)
        finally:
            c.close()


@dataclasses.dataclass
class RdbCycle:
    cycle: int
    mode: str  # SAVE or BGSAVE
    cut_after_s: float  # from the save's start to the cut
    acked: bool  # its success was seen before the cut: the new snapshot must be the one loaded
    rdb_check: str  # redis-check-rdb on dump.rdb after the remount ("absent" before any save)
    temp_files: int  # temp-*.rdb left on the file system after the remount
    loaded: str = ""  # at the next start: "old" or "new" (filled in by the next cycle)


def check_rdb(path):
    if not path.exists():
        return "absent"
    p = subprocess.run(["redis-check-rdb", str(path)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "RDB looks OK" in p.stdout, f"redis-check-rdb {path}: {p.stdout}{p.stderr}"
    return "ok"


class RdbRun:
    """appendonly no: each cycle loads and checks the snapshot, writes the next generation,
    saves it (SAVE or BGSAVE), and cuts the power during or just after the save."""

    def __init__(self, disk, logdir, seed, kind="amber"):
        self.disk, self.logdir, self.kind = disk, pathlib.Path(logdir), kind
        self.rnd = random.Random(seed)
        self.extra = ["--appendonly", "no", "--save", "", "--rdb-key-save-delay", str(RDB_KEY_SAVE_DELAY_US)]
        self.durable = 0  # the generation surely on disk
        self.pending = None  # the generation whose save the cut interrupted
        self.attempted = None  # the generation the last cycle saved
        self.results = []

    def load(self, name):
        """Starts Amber on the snapshot, checks it is the old or the new one, and returns the
        server and the generation."""
        s = start_server(self.disk, self.logdir, name, self.extra, self.kind)
        c = s.client(socket_timeout=60)
        try:
            gen = loaded_generation(c)
        finally:
            c.close()
        allowed = {self.durable} | ({self.pending} if self.pending is not None else set())
        assert gen in allowed, f"{name}: generation {gen} loaded, expected one of {sorted(allowed)}"
        if self.results:
            self.results[-1].loaded = "new" if gen == self.attempted else "old"
        if gen == self.pending:
            self.durable = gen
        self.pending = None
        return s, gen

    def run(self, cycles):
        server = None
        try:
            for n in range(cycles):
                server, _ = self.load(f"rdb-{n}")
                self.results.append(self.cycle(n, server, n + 1))  # every attempt its own generation
            server, _ = self.load("rdb-end")
        finally:
            if server is not None:
                kill(server)
        return self.results

    def cycle(self, n, server, gen):
        c = server.client(socket_timeout=60)
        write_generation(c, gen)
        c.close()
        mode = ("SAVE", "BGSAVE")[n % 2]
        self.attempted = gen
        saver = Saver(server.port, mode)
        self.disk.arm()
        t0 = time.monotonic()
        saver.start()
        time.sleep(self.rnd.uniform(0, 1.6) * RDB_KEYS * RDB_KEY_SAVE_DELAY_US / 1e6)
        t_cut = time.monotonic()
        self.disk.cut()
        kill(server)
        saver.join(30)
        assert not saver.is_alive(), "the save's client did not stop"
        acked = saver.done_at is not None and saver.done_at < t_cut
        if acked:
            self.durable, self.pending = gen, None
        else:
            self.pending = gen  # not seen before the cut (see `Ack`): old or new
        self.disk.remount()
        temps = len(list(self.disk.data.glob("temp-*.rdb")))
        return RdbCycle(n, mode, t_cut - t0, acked, check_rdb(self.disk.data / "dump.rdb"), temps)


def run_rdb(cycles, workdir, seed=1, kind="amber"):
    workdir = pathlib.Path(workdir)
    with LoopDisk(workdir / "disk") as disk:
        return RdbRun(disk, workdir, seed, kind).run(cycles)


# ---- the table -------------------------------------------------------------------------------

def aof_row(policy, results):
    def total(field):
        return sum(getattr(r, field) for r in results)
    return (f"| {policy} | {len(results)} | {total('acked')} | {total('lost')} "
            f"| {total('during_cut')} / {total('during_cut_lost')} | {total('unacked_present')} "
            f"| {max(r.window_s for r in results):.2f} | {total('repaired')} "
            f"| {sum(1 for r in results if r.zero_tail)} | {total('rewrite')} |")


AOF_HEADER = ("| appendfsync | cycles | acknowledged before the cut | lost | acknowledged during the cut / "
              "lost | unacknowledged present | loss window max (s) | tails repaired | zero tails (refused, "
              "fixed by check-aof --fix) | cuts during a rewrite |\n|---|---|---|---|---|---|---|---|---|---|")


def rdb_table(results):
    acked = [r for r in results if r.acked]
    return ("| cycles | SAVE / BGSAVE | finished before the cut | loaded new | loaded old "
            "| torn | redis-check-rdb ok | temp files left (max) |\n|---|---|---|---|---|---|---|---|\n"
            f"| {len(results)} | {sum(r.mode == 'SAVE' for r in results)} / "
            f"{sum(r.mode == 'BGSAVE' for r in results)} | {len(acked)} "
            f"| {sum(r.loaded == 'new' for r in results)} | {sum(r.loaded == 'old' for r in results)} "
            f"| 0 | {sum(r.rdb_check == 'ok' for r in results)} | {max(r.temp_files for r in results)} |")
