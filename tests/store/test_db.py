"""The process's SQLite writers queue fairly: first come, first served; a holder passes."""

from __future__ import annotations

import threading
import time

from service.store.db import FairLock


def test_writers_take_the_lock_in_the_order_they_came() -> None:
    lock = FairLock()
    order: list[int] = []

    def writer(number: int) -> None:
        with lock:
            order.append(number)

    with lock:
        threads = []
        for number in range(6):
            thread = threading.Thread(target=writer, args=(number,))
            thread.start()
            threads.append(thread)
            for _ in range(1000):  # wait until it queues before starting the next
                if len(lock._queue) == number + 1:
                    break
                time.sleep(0.001)
    for thread in threads:
        thread.join(timeout=10)
    assert order == list(range(6))


def test_a_holder_passes_through_again() -> None:
    lock = FairLock()
    with lock, lock:
        pass
    taken = threading.Event()

    def other() -> None:
        with lock:
            taken.set()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(timeout=10)
    assert taken.is_set()  # released fully after the nested hold
