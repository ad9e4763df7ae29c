"""DEBUG RELOAD against Redis 7.0.15: the same replies, and the documented difference that a file
which does not load leaves Amber's dataset in memory (Redis has flushed it by then)."""

import redis

from conftest import raw_command


def corrupt(path):
    """Cuts the file in half: a structural break wherever the keys happen to lie (a changed
    byte would land in a value or in a length depending on the dict order)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_reload_of_a_corrupt_dump_replies_as_redis_and_keeps_the_dataset(amber_and_redis):
    replies = []
    sizes = []
    for s in amber_and_redis:
        c = s.client()
        raw_command(c, "DEBUG", "POPULATE", "1000")
        assert c.save()
        corrupt(s.dir / "dump.rdb")
        try:
            raw_command(c, "DEBUG", "RELOAD", "NOSAVE")
            replies.append("OK")
        except redis.ResponseError as e:
            replies.append(str(e))
        sizes.append(c.dbsize())
    amber, red = replies
    assert amber == red == "Error trying to load the RDB dump"
    # Redis empties the dataset before loading, so a failed load leaves it partial.
    assert sizes[1] < 1000
    # Amber loads the whole file aside first: a failed load changes nothing.
    assert sizes[0] == 1000


def test_plain_reload_saves_first_then_loads(amber_and_redis):
    digests = []
    for s in amber_and_redis:
        c = s.client()
        raw_command(c, "DEBUG", "POPULATE", "500")
        corrupt_free_before = raw_command(c, "DEBUG", "DIGEST")
        assert raw_command(c, "DEBUG", "RELOAD") in (b"OK", "OK")
        after = raw_command(c, "DEBUG", "DIGEST")
        assert after == corrupt_free_before
        assert (s.dir / "dump.rdb").exists()
        digests.append(after)
    assert digests[0] == digests[1]
