"""Load shapes: the tick logic (target at a time), stages, selection from the environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from perf import shapes
from perf.shapes import Constant, Ramp, Soak, Spike, Stage, Step, Tick

ROOT = Path(__file__).resolve().parents[2]


def test_step_holds_each_count_then_stops():
    step = Step(steps=(2, 4, 8), step_seconds=10)
    assert step.duration == 30
    assert step.target(0) == Tick(2, step.spawn_rate)
    assert step.target(9.99).users == 2
    assert step.target(10).users == 4
    assert step.target(29.9).users == 8
    assert step.target(30) is None
    assert step.stages() == [Stage(0, 10, 2), Stage(10, 20, 4), Stage(20, 30, 8)]
    assert step.max_users == 8


def test_step_refuses_empty_or_non_positive_steps():
    with pytest.raises(ValueError):
        Step(steps=())
    with pytest.raises(ValueError):
        Step(steps=(5, 0))


def test_ramp_rises_monotonically_to_the_target_then_holds():
    ramp = Ramp(users=30, ramp_seconds=60, hold_seconds=20)
    counts = [ramp.target(t).users for t in range(0, 80)]
    assert counts == sorted(counts)
    assert counts[0] == 1
    assert ramp.target(60).users == 30 and ramp.target(79).users == 30
    assert ramp.target(80) is None
    last = ramp.stages()[-1]
    assert last.users == 30 and last.end == 80 and 55 <= last.start <= 60


def test_spike_goes_up_and_comes_back():
    spike = Spike(
        base_users=5, spike_users=50, base_seconds=10, spike_seconds=5, recover_seconds=10
    )
    assert [spike.target(t).users for t in (0, 9, 10, 14, 15, 24)] == [5, 5, 50, 50, 5, 5]
    assert spike.target(25) is None
    assert [s.users for s in spike.stages()] == [5, 50, 5]


def test_soak_and_constant_are_flat_and_bounded():
    for profile in (Soak(users=7, seconds=12), Constant(users=7, seconds=12)):
        assert {profile.target(t).users for t in range(12)} == {7}
        assert profile.target(12) is None
        assert profile.stages() == [Stage(0, 12, 7)]


def test_negative_time_is_an_error():
    with pytest.raises(ValueError):
        Step().target(-1)


def test_every_default_shape_is_bounded_for_a_short_run():
    for name, cls in shapes.SHAPES.items():
        assert 0 < cls().duration <= 300, name


def test_from_env_selects_and_configures():
    env = {"PERF_SHAPE": "step", "PERF_STEPS": "1, 3,5", "PERF_STEP_SECONDS": "4"}
    profile = shapes.from_env(env)
    assert profile == Step(steps=(1, 3, 5), step_seconds=4.0)
    assert isinstance(shapes.from_env({}), Step)
    ramp = shapes.from_env({"PERF_SHAPE": "RAMP", "PERF_USERS": "12"})
    assert isinstance(ramp, Ramp) and ramp.users == 12


def test_from_env_names_the_bad_setting():
    with pytest.raises(ValueError, match="unknown shape 'zigzag'"):
        shapes.from_env({"PERF_SHAPE": "zigzag"})
    with pytest.raises(ValueError, match="PERF_STEPS"):
        shapes.from_env({"PERF_SHAPE": "step", "PERF_STEPS": "a,b"})


def test_locust_shape_ticks_follow_the_profile():
    # In a subprocess: importing locust monkey-patches the interpreter for gevent.
    code = (
        "import json; from perf.shapes import Step, locust_shape\n"
        "cls = locust_shape(Step(steps=(3, 6), step_seconds=100))\n"
        "from locust import LoadTestShape\n"
        "s = cls(); print(json.dumps([issubclass(cls, LoadTestShape), cls.__name__, s.tick()]))\n"
    )
    out = subprocess.run(  # noqa: S603 - fixed code, this interpreter
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    is_shape, name, tick = json.loads(out.stdout.strip().splitlines()[-1])
    assert is_shape and name == "StepShape"
    assert tick == [3, Step().spawn_rate]
