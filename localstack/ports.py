"""Loopback ports for the processes we start: the only place the repository picks or probes one."""

import random
import socket
import time
from collections.abc import Callable
from pathlib import Path

LOOPBACK = "127.0.0.1"


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A free port below the ephemeral range: the dev server and every client socket take random
    ports from that range, and one of them could take ours between a stop and a restart."""
    low = min(_ephemeral_range()[0], 32768)
    chooser = random.SystemRandom()
    for _ in range(200):
        port = chooser.randrange(max(1024, low - 20000), low)
        with socket.socket() as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def port_open(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts connections on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(
    port: int, host: str = LOOPBACK, timeout: float = 60, check: Callable[[], None] | None = None
) -> None:
    """Until something listens on ``host:port``; ``check`` runs between tries and raises to give up
    early (the process that should listen has exited)."""
    deadline = time.monotonic() + timeout
    while True:
        if check is not None:
            check()
        if port_open(port, host):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")
        time.sleep(0.1)
