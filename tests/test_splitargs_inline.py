"""Inline commands go through the one sdssplitargs (amber-resp's splitargs), which reproduces
Redis's C-string reading: \\v or \\f do not end an unquoted word (only ' ', \\n, \\r and \\t
do). And Redis finds an inline line's newline with strchr, which stops at a NUL: a line with a
NUL before its newline never completes (no reply, until "too big inline request"). Each case is
sent to Amber and to Redis 7.0.15 and must get the same replies. Before, Amber split "a\\vb" in
two (ECHO answered a wrong-number-of-arguments error) and answered lines holding a NUL."""

import pytest

# test_protocol's check (same bytes to both, same replies and closing), under a name pytest
# does not collect again.
from test_protocol import test_bad_input_same_as_redis as same_as_redis

CASES = [
    ("vtab_inside_word", b"ECHO a\x0bb\r\n"),
    ("formfeed_inside_word", b"ECHO a\x0cb\r\n"),
    ("nul_ends_line", b"ECHO x\x00y z\r\nPING\r\n"),
    ("nul_inside_quotes", b'ECHO "x\x00y"\r\nPING\r\n'),
    ("vtab_after_closing_quote", b'ECHO "a"\x0b\r\nPING\r\n'),
    ("hex_escape", b'ECHO "\\x41\\x4a"\r\n'),
]


@pytest.mark.parametrize("name,payload", CASES, ids=[c[0] for c in CASES])
def test_inline_split_same_as_redis(name, payload, amber_server, redis_server):
    same_as_redis(name, payload, amber_server, redis_server)
