"""How much each measurement does: the full run (fits 15 minutes on 2 cores) and --quick."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    runs: int  # repetitions of every measurement
    journeys: dict[int, int]  # lifecycle: concurrency → journeys per run
    latency_complaints: int  # decision latency: complaints per run (4 decisions each)
    intake_requests: int  # intake: filings per run
    intake_concurrency: int
    mail_messages: int  # mail intake: distinct messages in the mailbox per run
    listing_sizes: tuple[int, int]  # stored complaints: small, large
    listing_requests: int  # requests per figure per run
    memory_sizes: tuple[int, int]  # open complaints: small, large
    settle: float  # seconds between runs, for background work (mail) to drain


# Sized for about 15 minutes on a quiet 2-core machine, most of it filling the worker with
# 10,000 open complaints (each costs ~0.1 s of CPU across worker and server to take in), plus
# the mail intake: 3 × 1,000 messages, taken in one at a time (minutes, with the load).
FULL = Profile(
    name="full",
    runs=3,
    journeys={1: 3, 10: 20, 50: 60},
    latency_complaints=16,
    intake_requests=60,
    intake_concurrency=10,
    mail_messages=1_000,
    listing_sizes=(1_000, 100_000),
    listing_requests=20,
    memory_sizes=(1_000, 10_000),
    settle=1.0,
)

QUICK = Profile(
    name="quick",
    runs=2,
    journeys={1: 2, 10: 10, 50: 50},
    latency_complaints=3,
    intake_requests=30,
    intake_concurrency=10,
    mail_messages=100,
    listing_sizes=(1_000, 10_000),
    listing_requests=15,
    memory_sizes=(100, 500),
    settle=0.5,
)
