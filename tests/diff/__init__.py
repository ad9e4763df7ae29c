"""Differential testing: the same seeded random command streams go to Redis 7.0.15 and to Amber,
and every reply must be equal (see gen.py for what is compared how, runner.py for how it runs).

    python3 -m tests.diff --seed 7 --count 20000          # one seed, many commands
    python3 -m tests.diff --seeds 1-8 --against redis      # prove the harness: Redis vs Redis
    AMBER_DIFF_FAMILIES=strings,keys python3 -m pytest tests/test_differential.py
"""

from .gen import FAMILIES, Gen, Op  # noqa: F401
from .runner import Mismatch, Runner, SERVER_ARGS  # noqa: F401
from .servers import families_from_env, run_seed, server_pair  # noqa: F401
