"""nlplab.progress.Progress: the ETA from this start's rate, a resumed run's earlier work,
and a time budget (lm train --max-minutes)."""

import pytest

from nlplab import progress
from nlplab.progress import Progress


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: now[0])
    return now


def test_eta_is_the_rest_at_this_start_s_rate(clock):
    with Progress(total=1000, counters=("tokens",), enabled=False) as p:
        clock[0] += 10
        p.update(advance=100, tokens=5000)
        assert p.eta() == pytest.approx(90.0)  # 900 left at 10 a second
        assert p.rates() == {"tokens_per_s": pytest.approx(500.0)}
        assert p.line() == "5,000 tokens (500/s), 10% ETA 90s"


def test_a_resumed_run_s_earlier_steps_do_not_count_in_the_rate(clock):
    with Progress(total=1000, enabled=False) as p:
        p.resume_at(600)
        assert p.eta() is None  # no step of this start yet
        clock[0] += 10
        p.update(advance=100)
        assert p.done == 700 and p.eta() == pytest.approx(30.0)  # 300 left at 10 a second, not 1,000 at 70


def test_a_deadline_ends_the_expected_work_first(clock):
    with Progress(total=10_000, enabled=False, deadline=clock[0] + 60) as p:
        clock[0] += 10
        p.update(advance=100)
        assert p.expected() == pytest.approx(600.0)  # 50 s left at 10 a second, far below 10,000
        assert p.eta() == pytest.approx(50.0)
        assert p.line().endswith("17% ETA 50s")
    with Progress(total=300, enabled=False, deadline=clock[0] + 600) as p:  # the steps end first
        clock[0] += 10
        p.update(advance=100)
        assert p.expected() == 300 and p.eta() == pytest.approx(20.0)
