"""The worker protocol (synthpedia.generate.worker) with workers that hold several requests at once."""

import threading
from pathlib import Path

from synthpedia.generate.backend import Request
from synthpedia.generate.worker import run_in_workers


def test_two_answers_in_one_write_are_both_read(monkeypatch):
    # A worker holding 2 requests may answer both at once: the parent must take both lines from
    # what one read returns, or wait forever for a line it already has.
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    requests = [Request(key=f"k{i}", prompt="p", seed=i) for i in range(8)]
    got = []
    runner = threading.Thread(
        target=lambda: got.extend(run_in_workers("pair_worker:answer_in_pairs", {}, 2, requests, in_flight=2)),
        daemon=True,
    )
    runner.start()
    runner.join(timeout=60)
    assert not runner.is_alive(), f"still waiting after {len(got)} of 8 answers"
    assert sorted(c.key for c in got) == sorted(r.key for r in requests)
    assert all(c.completion == c.key.upper() for c in got)
