"""Starting the reference Redis and the server under test, and running seeds against them."""

import contextlib
import os
import tempfile

from .gen import FAMILIES
from .runner import Runner, SERVER_ARGS

try:
    from tests.conftest import ServerProc
except ImportError:  # run from inside tests/
    from conftest import ServerProc


def families_from_env(value=None):
    """AMBER_DIFF_FAMILIES=strings,keys (or "-blocking,tx" to leave some out); None = all."""
    value = os.environ.get("AMBER_DIFF_FAMILIES", "") if value is None else value
    value = value.strip()
    if not value or value == "all":
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if all(n.startswith("-") for n in names):
        drop = {n[1:] for n in names}
        chosen = [f for f in FAMILIES if f not in drop]
    else:
        chosen = [n for n in names if not n.startswith("-")]
    unknown = [n for n in chosen if n not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}; known: {', '.join(FAMILIES)}")
    return chosen


@contextlib.contextmanager
def server_pair(against="amber", dir=None):
    """Yields (reference Redis, server under test) on free ports, both with SERVER_ARGS."""
    tmp = None
    if dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="amber-diff-")
        dir = tmp.name
    a = ServerProc("redis", os.path.join(dir, "reference"), SERVER_ARGS)
    b = ServerProc(against, os.path.join(dir, against + "-under-test"), SERVER_ARGS)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()
        if tmp is not None:
            tmp.cleanup()


def run_seed(seed, count, port_a, port_b, name_b="amber", families=None, timeout=10.0):
    r = Runner(seed, port_a, port_b, name_b=name_b, families=families, timeout=timeout, count=count)
    return r.run(count)
