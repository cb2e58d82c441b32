"""Both apps hand start-up's objects to gc.freeze() and collect young objects less often."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator

import anyio
import pytest
from fastapi import FastAPI

from app import main, mcp_server
from app.core.config import Settings
from app.core.gc_tuning import YOUNG_THRESHOLD


@pytest.fixture
def pristine_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.parametrize("create_app", [main.create_app, mcp_server.create_app])
def test_started_app_has_frozen_its_start_up_objects(
    pristine_gc: None, create_app: Callable[[Settings], FastAPI], offline_settings: Settings
) -> None:
    app = create_app(offline_settings)

    async def start_and_stop() -> tuple[int, int]:
        async with app.router.lifespan_context(app):
            return gc.get_freeze_count(), gc.get_threshold()[0]

    frozen, young = anyio.run(start_and_stop)
    assert frozen > 10_000
    assert young == YOUNG_THRESHOLD
