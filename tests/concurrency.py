"""Running work in real concurrent threads, each on its own database connection."""

from __future__ import annotations

import threading

from django.db import connections


def race(n: int, work) -> list:
    """Run `work(i)` in n threads released together; return what each returned or raised."""
    barrier = threading.Barrier(n)
    outcomes: list = [None] * n

    def runner(i: int) -> None:
        try:
            barrier.wait()
            outcomes[i] = work(i)
        except Exception as exc:  # collected and asserted on by the test
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes
