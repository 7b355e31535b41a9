"""Stopping a process the suite started: ask, wait, then insist."""

from __future__ import annotations

import signal
import subprocess


def stop_process(process: subprocess.Popen, *, timeout: float, signum: int = signal.SIGTERM) -> None:
    """Send `signum` (its clean stop) and wait up to `timeout` seconds, then SIGKILL; never leaves it running."""
    if process.poll() is not None:
        return
    process.send_signal(signum)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
