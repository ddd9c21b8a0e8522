"""The web process's heap (`hotline.heap.settle_heap`), as `hotline serve` sets it up once started."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from hotline.heap import YOUNGEST, settle_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_what_starting_made_is_frozen_and_the_youngest_generation_collected_less_often() -> None:
    made_while_starting = [object() for _ in range(1000)]
    settle_heap()
    assert gc.get_freeze_count() >= len(made_while_starting)
    assert gc.get_threshold()[0] == YOUNGEST > 700  # Python's default: 700
