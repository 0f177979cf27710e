"""Random bytes from the pool: never handed out twice, in a thread, across threads or in a child."""

from __future__ import annotations

import os
import threading

from mockwise._domain.entropy import POOL_BYTES, random_bytes


def test_bytes_are_never_handed_out_twice_across_refills() -> None:
    drawn = [random_bytes(16) for _ in range(3 * POOL_BYTES // 16)]
    assert all(len(b) == 16 for b in drawn)
    assert len(set(drawn)) == len(drawn)
    assert len(random_bytes(POOL_BYTES * 2)) == POOL_BYTES * 2  # more than a pool at once


def test_threads_draw_from_pools_of_their_own() -> None:
    drawn: list[bytes] = []

    def draw() -> None:
        drawn.extend(random_bytes(16) for _ in range(500))

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(drawn)) == len(drawn) == 2000


def test_a_forked_child_does_not_repeat_its_parent() -> None:
    random_bytes(16)  # the parent's pool holds bytes not handed out yet
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.write(write, random_bytes(16))
        os._exit(0)
    os.close(write)
    theirs = os.read(read, 16)
    os.close(read)
    os.waitpid(child, 0)
    assert len(theirs) == 16 and theirs != random_bytes(16)
