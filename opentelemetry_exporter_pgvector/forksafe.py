"""One at-fork hook for every object that holds per-process state.

After ``os.fork()`` (gunicorn workers, multiprocessing's fork start method) the child has
copies of the parent's locks (maybe held by a thread that does not exist in the child), its
queues, thread handles and pooled sockets, but none of its threads. Objects owning such
state register here, and the child calls their ``after_fork_in_child()`` right after the
fork, before any of its own code can use them, instead of every method comparing
``os.getpid()`` with the pid it started in.

One ``os.register_at_fork`` hook serves all objects (a hook cannot be unregistered, so one
per object would pile up for the life of the process); a ``WeakSet`` lets objects go away.
"""

from __future__ import annotations

import logging
import os
import weakref
from typing import Protocol

logger = logging.getLogger(__name__)


class ForkAware(Protocol):
    def after_fork_in_child(self) -> None:
        """Drop what belongs to the parent process; start as a fresh owner."""


_registered: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def reset_after_fork(owner: ForkAware) -> None:
    """Have ``owner.after_fork_in_child()`` called in every child forked from now on."""
    _registered.add(owner)


def _in_child() -> None:
    for owner in list(_registered):
        try:
            owner.after_fork_in_child()
        except Exception:  # one object's failure must not leave the others inherited
            logger.exception("could not reset %r after fork", owner)


os.register_at_fork(after_in_child=_in_child)
