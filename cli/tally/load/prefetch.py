"""An iterator run ahead in a thread of its own, a bounded number of items ahead of its consumer.

The loader parses the next block of a file here while it checks and encodes the one before:
pyarrow parses without holding the GIL, so the two use both cores where the server leaves one
idle (JSON Lines, whose parsing is most of its load, most of all).
"""

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def prefetched(items: Iterator[T], ahead: int) -> Iterator[T]:
    """The items of `items`, produced in a thread at most `ahead` items in advance; an exception
    of the producer is raised here, at the point the consumer reaches it."""
    waiting: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                waiting.put((item, None))
            waiting.put((_END, None))
        except BaseException as error:  # re-raised in the consumer's thread
            waiting.put((None, error))

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        while True:
            item, error = waiting.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        while producer.is_alive():  # a producer blocked on a full queue goes on, then stops
            with contextlib.suppress(queue.Empty):
                waiting.get(timeout=0.1)
        producer.join()
