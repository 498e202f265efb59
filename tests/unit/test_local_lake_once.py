"""clickstream.lake.local_lake builds one engine per stack and cache directory, even when two
threads ask for it first at once (make run's dashboard warm-up and a page's first request): what
one of them prepared must not go with a copy that is thrown away."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from chalicelib.settings import from_env
from clickstream.lake import local as local_module


def test_two_threads_asking_first_at_once_get_the_same_lake_built_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    built: list[object] = []
    second_asks = threading.Event()

    def slow_build(mirror: Any) -> object:
        # the first builder waits until the other thread is asking too, then takes a while more
        built.append(mirror)
        second_asks.wait(timeout=10)
        time.sleep(0.3)
        return object()

    monkeypatch.setattr(local_module, "Mirror", lambda *args: args[-1])
    monkeypatch.setattr(local_module, "mirrored_lake", slow_build)
    settings, cache = from_env({}), tmp_path / "cache"
    got: list[object] = []

    def ask(signal_first: bool) -> None:
        if signal_first:
            second_asks.set()
        got.append(local_module.local_lake(settings, cache))

    first = threading.Thread(target=ask, args=(False,))
    first.start()
    while not built:  # the first thread is inside the build
        time.sleep(0.01)
    second = threading.Thread(target=ask, args=(True,))
    second.start()
    first.join(timeout=30)
    second.join(timeout=30)
    assert len(built) == 1 and len(got) == 2 and got[0] is got[1]
