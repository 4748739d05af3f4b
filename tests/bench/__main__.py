"""``make bench``: run every benchmark and print its numbers.

Options: ``python -m tests.bench [--leads N] [--existing N] [--no-naive] [--no-curve]
[--only NAME]``.
The benchmark database (``<name>_bench``) is seeded once and reused by later runs.
"""

from __future__ import annotations

import argparse

from tests.bench import setup


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--leads", type=int, default=100_000, help="leads in the insert batch")
    parser.add_argument(
        "--existing",
        type=int,
        default=1_000_000,
        help="leads already in the benchmark campaigns (and the size of their DNC list)",
    )
    parser.add_argument(
        "--no-naive", action="store_true", help="skip the (slow) naive baseline of the insert bench"
    )
    parser.add_argument(
        "--no-curve",
        action="store_true",
        help="skip the insert bench's curve over campaign and DNC sizes (seeds a 3M campaign)",
    )
    parser.add_argument(
        "--dialer-campaigns", type=int, default=10, help="campaigns of the dialer benchmark"
    )
    parser.add_argument(
        "--mixed-seconds", type=float, default=60, help="how long the mixed load runs"
    )
    parser.add_argument(
        "--only",
        choices=[
            "inserts",
            "ratelimit",
            "updates",
            "dialer",
            "management",
            "imports",
            "dashboard",
            "mixed",
            "memory",
            "jobs",
        ],
        help="run one benchmark",
    )
    args = parser.parse_args()
    setup.configure()
    # Django must be configured first.
    from tests.bench import (
        dashboard,
        dialer,
        imports,
        inserts,
        jobs,
        management,
        memory,
        mixed,
        ratelimit,
        updates,
    )

    def wanted(name: str) -> bool:
        return args.only in (None, name)

    if wanted("inserts"):
        inserts.run(
            batch_size=args.leads,
            existing=args.existing,
            naive=not args.no_naive,
            curve=not args.no_curve,
        )
    if wanted("ratelimit"):
        ratelimit.run(existing=args.existing)
    if wanted("updates"):
        updates.run(existing=args.existing)
    if wanted("dialer"):
        dialer.run(campaigns=args.dialer_campaigns, leads=args.existing)
    if wanted("management"):
        management.run(existing=args.existing)
    if wanted("imports"):
        imports.run(existing=args.existing)
    if wanted("dashboard"):
        dashboard.run(campaigns=args.dialer_campaigns, leads=args.existing)
    if wanted("memory"):
        memory.run(existing=args.existing)
    if wanted("jobs"):
        jobs.run(existing=args.existing)
    if wanted("mixed"):
        mixed.run(existing=args.existing, duration=args.mixed_seconds)


if __name__ == "__main__":
    main()
