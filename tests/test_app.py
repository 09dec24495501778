"""router.app: the serving process's heap is frozen once started, and only when asked."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from classifiers.fake import ConstantClassifier
from fleet.sim import worker
from router.app import create_app
from router.settings import Settings
from tests.support import ServerThread, policy_dict, write_policy


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # give the test process its collector back


@pytest.mark.parametrize("freeze", [True, False])
def test_start_up_freezes_the_heap_only_when_asked(tmp_path: Path, unfrozen: None, freeze: bool) -> None:
    sim = worker.create_app(worker.WorkerConfig(model="sim-small", ttft_ms=1))
    with ServerThread(sim) as w:
        path = write_policy(tmp_path / "policy.yaml", policy_dict(small=[w.url]))
        app = create_app(Settings(policy_path=str(path), freeze_heap=freeze), classifier=ConstantClassifier(0.1),
                         env={"TIERROUTE_API_KEYS": "sk-t"})
        with ServerThread(app) as proxy:
            frozen = gc.get_freeze_count()
            r = httpx.post(proxy.url + "/v1/chat/completions", headers={"Authorization": "Bearer sk-t"},
                           json={"model": "small", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
            assert r.status_code == 200  # a frozen heap serves as before
    if freeze:
        assert frozen > 10_000  # the modules, policy and clients alive after start-up
    else:
        assert frozen == 0


def test_serve_settings_carry_the_freeze_to_workers() -> None:
    assert Settings().freeze_heap is False  # library use and tests: the collector is left alone
    settings = Settings.from_env({}, freeze_heap=True)  # what `tierroute serve` builds
    assert Settings.from_json(settings.to_json()).freeze_heap is True  # `--workers N` passes settings as JSON
