"""OS-event streams too large to hold: the same stream, read again piece by piece.

A memory workload's stream is one array (:mod:`workloads.memory.events`), 32 bytes per event:
a 10 GB Valgrind trace holds some 700 million lines, hundreds of millions of references, up
to 20 GB of events. Such a workload returns an :class:`EventChunks` instead: every
iteration is a new pass over the source (the trace file read and parsed a block at a time,
or the references a first pass kept on disk), yielding consecutive pieces of the one stream.
The pieces of a pass, joined, are exactly the array the workload would otherwise return
(tested), so whether a stream arrives whole or in pieces changes no result: the MMU replay
(:func:`codesign.mmu.replay.drive`) feeds pieces to the same calls it would make on the
whole array.

What a consumer needs before the first pass is carried along: the number of events and of
ACCESS events (a warm-up mark is a fraction of the accesses), and ``identity``, a string the
stream is a function of (the trace's content digest and the workload's parameters), which
keys memos of results computed from the stream (the native reference run) as the bytes of a
whole stream do.

>>> from workloads.memory.events import StreamBuilder
>>> b = StreamBuilder(); b.spawn(1); b.switch(1); b.map(0x10000, pages=4)
>>> for va in range(0x10000, 0x14000, 0x1000):
...     b.access(va)
>>> ev = b.build()
>>> parts = split(ev, [3, 5], "demo")
>>> [len(p) for p in parts], len(parts), parts.accesses
([3, 2, 3], 8, 4)
>>> bool((whole(parts) == ev).all()), stream_digest(parts) != stream_digest(ev)
(True, True)
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from workloads.memory.events import Ev, empty


@dataclass(frozen=True)
class EventChunks:
    """An OS-event stream as a source of pieces: ``passes()`` starts a new pass, whose
    pieces joined are the stream; ``events`` and ``accesses`` count it; ``identity`` names
    what it is a function of (two streams with one identity are equal)."""

    passes: Callable[[], Iterator[np.ndarray]]
    events: int
    accesses: int
    identity: str

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.passes()

    def __len__(self) -> int:
        return self.events


Stream = np.ndarray | EventChunks
"""What a memory workload returns and an MMU mechanism takes: a whole stream or its pieces."""


def pieces(events: Stream) -> Iterator[np.ndarray]:
    """One pass over a stream: the whole array as one piece, or a new pass of its pieces."""
    if isinstance(events, EventChunks):
        yield from events
    else:
        yield events


def whole(events: Stream) -> np.ndarray:
    """The stream as one array (for a consumer that needs it all: its memory grows with the
    stream's length)."""
    if not isinstance(events, EventChunks):
        return events
    parts = list(events)
    return np.concatenate(parts) if parts else empty()


_VOUCHED: ContextVar[tuple[int, str] | None] = ContextVar("stream_identity", default=None)
"""The whole stream (by ``id``) whose identity a caller vouches for, and that identity."""


@contextlib.contextmanager
def identified(events: Stream, identity: str) -> Iterator[None]:
    """Within the block, :func:`stream_digest` of ``events`` -- this very object, which must
    not change meanwhile -- names ``identity`` (what the stream is a function of: a
    workload's key) instead of hashing its bytes (a 1.6 M-reference trace's 54 MB: 60 ms).

    >>> from workloads.memory.events import StreamBuilder
    >>> b = StreamBuilder(); b.spawn(1); ev = b.build()
    >>> with identified(ev, "workload-key"):
    ...     vouched = stream_digest(ev)
    >>> vouched != stream_digest(ev), vouched == stream_digest(b.build())
    (True, False)
    """
    token = _VOUCHED.set((id(events), identity))
    try:
        yield
    finally:
        _VOUCHED.reset(token)


def stream_digest(events: Stream) -> str:
    """SHA-256 (hex) naming a stream's content: of its bytes when whole, of its identity when
    in pieces or vouched for (:func:`identified`); the three never collide (an identity is
    hashed with a prefix)."""
    name = _name(events)
    return hashlib.sha256(events.tobytes() if name is None else name).hexdigest()


def named(events: Stream) -> bool:
    """Whether :func:`stream_digest` names ``events`` without hashing their bytes (a stream
    in pieces, or one vouched for by :func:`identified`)."""
    return _name(events) is not None


def _name(events: Stream) -> bytes | None:
    """What :func:`stream_digest` hashes in place of the bytes (None: the bytes)."""
    if isinstance(events, EventChunks):
        return b"chunks\0" + events.identity.encode()
    vouched = _VOUCHED.get()
    if vouched is not None and vouched[0] == id(events):
        return b"vouched\0" + vouched[1].encode()
    return None


def split(events: np.ndarray, at: Sequence[int], identity: str = "") -> EventChunks:
    """A whole stream as pieces cut before the given positions (tests, examples)."""
    bounds = [0, *sorted(int(a) for a in at), len(events)]
    acc = int(np.count_nonzero(events["op"] == Ev.ACCESS))

    def passes() -> Iterator[np.ndarray]:
        for lo, hi in itertools.pairwise(bounds):
            yield events[lo:hi]

    return EventChunks(passes, len(events), acc, identity or stream_digest(events))


__all__ = ["EventChunks", "Stream", "identified", "named", "pieces", "split",
           "stream_digest", "whole"]
