"""Waiting for a forked test child without hanging the test session."""

from __future__ import annotations

import os
import time

import pytest


def wait_for_child(pid: int, timeout: float = 60) -> int:
    """The exit code of forked child ``pid``; killed and failed after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child did not finish")
