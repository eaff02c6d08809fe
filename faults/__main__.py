"""``python -m faults [--complaints N] [--scenario NAME ...] [--seed S] [--keep]`` (``make faults``).

Prints one line of figures per scenario and exits non-zero if any scenario lost a complaint,
sent a mail twice, left the store disagreeing with Temporal, or broke another promise.
"""

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
from pathlib import Path

from faults.checks import Figures
from faults.runner import run
from faults.scenarios import SCENARIOS

SHOWN_PROBLEMS = 25


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m faults", description=__doc__)
    parser.add_argument("--complaints", type=int, default=200, help="complaints per scenario (default %(default)s)")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        help="run this scenario (repeatable; default: all of them)",
    )
    parser.add_argument("--seed", type=int, help="random seed (printed, to repeat a run)")
    parser.add_argument("--concurrency", type=int, default=20, help="journeys in flight (default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs, stores, mail)")
    return parser


async def _run_all(names: list[str], complaints: int, seed: int, base: Path, concurrency: int) -> list[Figures]:
    results = []
    for name in names:
        figures, report = await run(SCENARIOS[name](), complaints, seed, base, concurrency)
        print(figures.line(), flush=True)
        if not figures.ok:
            for problem in figures.problems[:SHOWN_PROBLEMS]:
                print(f"    {problem}", flush=True)
            more = len(figures.problems) - SHOWN_PROBLEMS
            print(f"    {'… ' + str(more) + ' more; ' if more > 0 else ''}report: {report}", flush=True)
            print(f"    logs: {base / name / 'logs'}", flush=True)
        results.append(figures)
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.complaints < 30:
        sys.exit("--complaints must be at least 30 (the scenarios set some aside as probes)")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    names = args.scenario or list(SCENARIOS)
    base = Path(tempfile.mkdtemp(prefix="complaints-faults-"))
    base.chmod(0o755)  # the postgres account works inside
    print(f"faults: seed {seed} (--seed {seed} repeats it), {args.complaints} complaints per scenario, in {base}")
    results = asyncio.run(_run_all(names, args.complaints, seed, base, args.concurrency))
    ok = all(f.ok for f in results)
    if ok and not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"faults: working directory kept: {base}")
    print("faults: all scenarios passed" if ok else "faults: FAILED", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
