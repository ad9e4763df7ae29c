"""CLI: python3 -m tests.diff --seed N [--count M] [--families a,b] [--against amber|redis]"""

import argparse
import sys
import time

from .runner import Mismatch
from .servers import families_from_env, run_seed, server_pair


def seeds_arg(text):
    out = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            out += range(int(lo), int(hi) + 1)
        else:
            out.append(int(part))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m tests.diff", description=__doc__)
    p.add_argument("--seed", type=int, help="one seed")
    p.add_argument("--seeds", type=seeds_arg, help="several seeds: 1-8 or 1,5,9")
    p.add_argument("--count", type=int, default=2500, help="ops per seed (default 2500)")
    p.add_argument("--families", default=None,
                   help="comma-separated families, or -a,-b to exclude (default: AMBER_DIFF_FAMILIES or all)")
    p.add_argument("--against", default="amber", choices=["amber", "redis"],
                   help="the server compared with Redis 7.0.15 (redis: prove the harness)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for any reply")
    p.add_argument("--port-a", type=int, help="use a running reference Redis on this port")
    p.add_argument("--port-b", type=int, help="use a running server under test on this port")
    args = p.parse_args(argv)
    seeds = args.seeds or [args.seed if args.seed is not None else 1]
    families = families_from_env(args.families)

    def go(pa, pb):
        failed = 0
        for seed in seeds:
            t = time.time()
            try:
                st = run_seed(seed, args.count, pa, pb, name_b=args.against, families=families,
                              timeout=args.timeout)
                print(f"seed {seed}: OK  {st['ops']} ops, {st['commands']} commands, "
                      f"{st['checks']} dataset checks, {time.time() - t:.1f}s", flush=True)
            except Mismatch as e:
                failed += 1
                print(f"seed {seed}: FAILED\n{e}", flush=True)
        return failed

    if args.port_a and args.port_b:
        failed = go(args.port_a, args.port_b)
    else:
        with server_pair(args.against) as (a, b):
            failed = go(a.port, b.port)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
