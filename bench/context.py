"""What the phases share: the profile, the processes, the clients and the floor plan."""

from dataclasses import dataclass, field

from temporalio.client import Client

from bench.profile import Profile
from bench.shape import FloorPlan, Shape
from bench.stack import Stack
from bench.stats import Figure
from config.settings import Settings
from localstack.processes import Process


@dataclass
class Bench:
    profile: Profile
    stack: Stack
    settings: Settings
    ours: Client  # our data converter (as the admin and starter use)
    floor: Client  # Temporal's default data converter
    worker: Process
    admin_url: str
    shape: Shape
    plan: FloorPlan
    tokens: dict[str, str] = field(default_factory=dict)  # username → API token
    imap: Settings | None = None  # the settings the worker polls the bench's mailbox with, if any
    figures: dict[str, Figure] = field(default_factory=dict)  # measured so far, by key (for comparisons)
