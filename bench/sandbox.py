"""Running candidate programs that a model wrote: limits, no network, a folder of their own.

A program runs in a subprocess with a wall-clock timeout, a CPU-time and an address-space limit,
its own session (so a fork bomb's children die with it), a temporary working folder, an empty
environment, and no network: an empty network namespace, where ``unshare`` may make one. A
program that crashes, hangs or runs out of memory is a failed candidate, never a harness error.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

RUN_TIMEOUT_S = 10.0
MEMORY_BYTES = 1 << 30
ENVIRONMENT = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def network_isolation() -> list[str]:
    """``unshare`` arguments for an empty network namespace, or [] where it is not allowed."""
    if shutil.which("unshare") is None:
        return []
    probe = subprocess.run(["unshare", "--net", "--map-root-user", "true"], capture_output=True)
    return ["unshare", "--net", "--map-root-user"] if probe.returncode == 0 else []


@dataclass(frozen=True)
class Limits:
    timeout_s: float = RUN_TIMEOUT_S
    memory_bytes: int = MEMORY_BYTES

    def apply(self) -> None:
        """Run in the child before ``exec``."""
        resource.setrlimit(resource.RLIMIT_AS, (self.memory_bytes, self.memory_bytes))
        seconds = max(1, int(self.timeout_s))
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
        os.setsid()


def run(command: list[str], folder: Path, isolation: list[str], limits: Limits, stdin: str = "") -> tuple[int, bytes]:
    """Exit status and standard output of ``command`` run in ``folder`` under ``limits``; a
    program past its time is killed and reported as status -9."""
    try:
        result = subprocess.run([*isolation, *command], cwd=folder, input=stdin.encode(), capture_output=True,
                                timeout=limits.timeout_s, preexec_fn=limits.apply, env=ENVIRONMENT)
    except subprocess.TimeoutExpired:
        return -9, b""
    return result.returncode, result.stdout
