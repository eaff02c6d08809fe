"""``python -m bench [--quick] [--only PHASES] [--temporal-db memory|file] [--env KEY=VALUE]``

Starts its own Temporal dev server, mail catcher, worker, floor worker and admin app (and a
throwaway PostgreSQL and Dovecot), measures, prints one line per figure (median and spread over
runs) and then the ratios against their targets. Figures, not tests: the exit code is 0 whenever
every figure was measured (and every mail of the mail intake phase was filed exactly once).
"""

import argparse
import asyncio
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import filing, latency, lifecycle, listing, mail, memory, prepare
from bench.profile import FULL, QUICK, Profile
from bench.report import Ratio, note, say, summary
from bench.stack import Stack

PHASES = ("lifecycle", "latency", "intake", "mail", "listing", "memory")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    parser.add_argument("--quick", action="store_true", help="a small smoke run (2 minutes on a quiet machine)")
    parser.add_argument("--only", default=",".join(PHASES), help=f"comma-separated subset of {', '.join(PHASES)}")
    parser.add_argument("--runs", type=int, help="repetitions of each measurement (default: 3, quick: 2)")
    parser.add_argument(
        "--temporal-db", choices=["memory", "file"], default="memory",
        help="dev server store: in memory (default: the server costs least, so our own cost shows), or a file",
    )  # fmt: skip
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE",
        help="extra setting for every process started (e.g. COMPLAINTS_MAX_CACHED_WORKFLOWS=1000)",
    )  # fmt: skip
    parser.add_argument("--listing-sizes", type=_sizes, metavar="SMALL,LARGE", help="stored complaints to list")
    parser.add_argument("--memory-sizes", type=_sizes, metavar="SMALL,LARGE", help="open complaints to hold")
    parser.add_argument(
        "--mail-messages",
        type=_positive,
        metavar="N",
        help="messages in the mailbox per mail intake run (default: 1000, quick: 100)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs) afterwards")
    return parser


async def _measure(stack: Stack, profile: Profile, phases: set[str], temporal_db: Path | None) -> list[Ratio]:
    ratios: list[Ratio] = []
    bench = None
    if phases - {"listing"}:
        bench = await prepare.up(stack, profile, temporal_db, mailbox="mail" in phases)
    else:
        stack.start_temporal(temporal_db)  # the admin connects to a server even to list
    runs = {
        "lifecycle": lifecycle.run,
        "latency": latency.run,
        "intake": filing.run,
        "mail": mail.run,
        "memory": memory.run,
    }
    for name in PHASES:  # the memory phase last: filling the worker with open complaints takes longest
        if name not in phases:
            continue
        say()
        started = time.perf_counter()
        if name == "listing":
            ratios += await listing.run(stack, profile.listing_sizes, profile.runs, profile.listing_requests)
        else:
            assert bench is not None
            ratios += await runs[name](bench)
        note(f"{name} took {time.perf_counter() - started:.0f}s")
    return ratios


def _positive(text: str) -> int:
    value = int(text.replace("_", ""))
    if value <= 0:
        raise argparse.ArgumentTypeError("a positive number")
    return value


def _sizes(text: str) -> tuple[int, int]:
    small, large = (int(part.replace("_", "")) for part in text.split(","))
    if not 0 < small < large:
        raise argparse.ArgumentTypeError("two sizes, small,large")
    return small, large


def main() -> None:
    args = _parser().parse_args()
    phases = {p.strip() for p in args.only.split(",") if p.strip()}
    if unknown := phases - set(PHASES):
        sys.exit(f"unknown phase(s): {', '.join(sorted(unknown))}")
    profile = QUICK if args.quick else FULL
    overrides = {
        "runs": args.runs,
        "listing_sizes": args.listing_sizes,
        "memory_sizes": args.memory_sizes,
        "mail_messages": args.mail_messages,
    }
    profile = dataclasses.replace(profile, **{k: v for k, v in overrides.items() if v})
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    stack = Stack(tmp)
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"--env needs KEY=VALUE, not {item!r}")
        stack.env[key] = value
    started = time.perf_counter()
    load = os.getloadavg()
    say(
        f"make bench ({profile.name}): {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} at start, {profile.runs} runs per figure, Temporal dev server store: "
        f"{args.temporal_db}" + (f", extra settings: {' '.join(args.env)}" if args.env else "")
    )
    say("Figures taken while other work shares the machine are noisy: read the spread.")
    ok = False
    try:
        db = tmp / "temporal.db" if args.temporal_db == "file" else None
        ratios = asyncio.run(_measure(stack, profile, phases, db))
        summary(ratios)
        ok = True
    except KeyboardInterrupt:
        say("interrupted")
    finally:
        stack.close()
        elapsed = time.perf_counter() - started
        say(f"Finished in {elapsed // 60:.0f} min {elapsed % 60:.0f} s." if ok else f"Logs: {tmp}")
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
