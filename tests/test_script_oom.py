"""Scripts and functions over maxmemory, against Redis 7.0.15: a script without flags may run
but its first deny-oom command is refused (scriptVerifyOOM, unless it already wrote); a script
that declares flags is deny-oom unless it says allow-oom or no-writes, so it is refused before
it starts (processCommand's OOM error, or scriptPrepareForRun's inside EXEC); allow-oom scripts
and functions run their writes anyway. The same requests to both servers, the same replies."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from tests.diff.resp import Conn  # noqa: E402

LIB = (
    "#!lua name=oomlib\n"
    "redis.register_function('plain', function(k) return redis.call('SET', k[1], 'f') end)\n"
    "redis.register_function{function_name='loose', callback=function(k)"
    " return redis.call('SET', k[1], 'f') end, flags={'allow-oom'}}\n"
    "redis.register_function{function_name='reader', callback=function(k)"
    " return redis.call('GET', k[1]) end, flags={'no-writes'}}\n"
)

REQUESTS = [
    ["EVAL", "return redis.call('SET', 'k', 'v')", "0"],
    ["EVAL", "return redis.pcall('SET', 'k', 'v')", "0"],
    ["EVAL", "redis.call('GET', 'x') return redis.call('SET', 'k', 'v')", "0"],
    ["EVAL", "return redis.call('GET', 'x')", "0"],
    # A write first (DEL is not deny-oom): the script cannot be stopped half way any more.
    ["EVAL", "redis.call('DEL', 'gone') return redis.call('SET', 'k', 'after-write')", "0"],
    ["EVAL", "#!lua\nreturn redis.call('SET', 'k', 'v')", "0"],
    ["EVAL", "#!lua flags=allow-oom\nreturn redis.call('SET', 'k', 'allowed')", "0"],
    ["EVAL", "#!lua flags=no-writes\nreturn redis.call('GET', 'k')", "0"],
    ["EVAL_RO", "#!lua flags=no-writes\nreturn redis.call('GET', 'k')", "0"],
    ["EVALSHA", "0123456789012345678901234567890123456789", "0"],
    ["FCALL", "plain", "1", "fk"],
    ["FCALL", "loose", "1", "fk"],
    ["FCALL", "reader", "1", "fk"],
    ["FCALL_RO", "reader", "1", "fk"],
    ["FCALL", "nosuchfunction", "0"],
    ["MULTI"], ["EVAL", "#!lua\nreturn 1", "0"], ["EXEC"],
    ["MULTI"], ["EVAL", "return redis.call('SET', 'k', 'v')", "0"], ["EXEC"],
    ["SET", "k", "v"], ["GET", "k"],
]


def transcript(port):
    c = Conn(port)
    out = []

    def ask(*args):
        c.send([a.encode() if isinstance(a, str) else a for a in args])
        return c.read().raw

    assert ask("FUNCTION", "LOAD", LIB) == b"$6\r\noomlib\r\n"
    # A script loaded before the limit: EVALSHA finds its declared flags.
    sha = ask("SCRIPT", "LOAD", "#!lua\nreturn redis.call('SET', 'k', 'sha')")[5:45].decode()
    ask("SET", "big", "x" * 100000)
    assert ask("CONFIG", "SET", "maxmemory", "1") == b"+OK\r\n"
    for req in REQUESTS + [["EVALSHA", sha, "0"], ["EVALSHA", sha.upper(), "0"]]:
        out.append((req, ask(*req)))
    assert ask("CONFIG", "SET", "maxmemory", "0") == b"+OK\r\n"
    out.append(("after", ask("MGET", "k", "fk")))
    c.close()
    return out


def test_scripts_over_maxmemory_as_redis(amber_and_redis):
    got = {s.kind: transcript(s.port) for s in amber_and_redis}
    for (req, a), (_, r) in zip(got["amber"], got["redis"]):
        assert a == r, (req, a, r)
    replies = dict((str(req), raw) for req, raw in got["amber"])
    # The cases that make the test meaningful (both servers agreed on them above).
    assert replies[str(REQUESTS[0])].startswith(b"-OOM command not allowed")
    assert replies[str(REQUESTS[5])] == b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    assert replies[str(REQUESTS[6])] == b"+OK\r\n"
    assert replies[str(REQUESTS[4])] == b"+OK\r\n"
