"""Load shapes: ramp, step, spike, soak and constant, each bounded in time.

Every shape is a plain `Profile`: `target(t)` says how many users should run
`t` seconds into the test (or `None` once the test is over) and `stages()`
lists the windows in which the target is steady, so the report can compute
figures per step. `locust_shape()` wraps a profile in a Locust
`LoadTestShape` (imported lazily so this module stays importable, and
testable, without gevent's monkey patching).

Defaults fit a 2-core machine that also runs the cluster under test; each
can be overridden with `PERF_*` environment variables (see `from_env`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """A window [start, end) in seconds during which `users` users are the target."""

    start: float
    end: float
    users: int


@dataclass(frozen=True)
class Tick:
    users: int
    spawn_rate: float


class Profile:
    """Base class: a time-bounded user-count profile."""

    name = "profile"
    spawn_rate: float = 5.0

    @property
    def duration(self) -> float:
        raise NotImplementedError

    def users_at(self, t: float) -> int:
        raise NotImplementedError

    def target(self, t: float) -> Tick | None:
        """Target at `t` seconds, or None when the test should stop."""
        if t < 0:
            raise ValueError("time must be >= 0")
        if t >= self.duration:
            return None
        return Tick(self.users_at(t), self.spawn_rate)

    def stages(self) -> list[Stage]:
        """Windows of constant target, merged; ramps are one stage per second."""
        out: list[Stage] = []
        for second in range(math.ceil(self.duration)):
            users = self.users_at(second)
            end = min(second + 1.0, self.duration)
            if out and out[-1].users == users:
                out[-1] = Stage(out[-1].start, end, users)
            else:
                out.append(Stage(float(second), end, users))
        return out

    @property
    def max_users(self) -> int:
        return max(s.users for s in self.stages())

    def describe(self) -> str:
        return f"{self.name}: {self.duration:.0f} s, up to {self.max_users} users"


@dataclass(frozen=True)
class Constant(Profile):
    users: int = 10
    seconds: float = 60.0
    spawn_rate: float = 10.0
    name = "constant"

    @property
    def duration(self) -> float:
        return self.seconds

    def users_at(self, t: float) -> int:
        return self.users


@dataclass(frozen=True)
class Ramp(Profile):
    """Linear ramp from `start_users` to `users` over `ramp_seconds`, then hold."""

    users: int = 60
    ramp_seconds: float = 60.0
    hold_seconds: float = 90.0
    start_users: int = 1
    spawn_rate: float = 5.0
    name = "ramp"

    @property
    def duration(self) -> float:
        return self.ramp_seconds + self.hold_seconds

    def users_at(self, t: float) -> int:
        if t >= self.ramp_seconds:
            return self.users
        frac = t / self.ramp_seconds
        return max(1, round(self.start_users + (self.users - self.start_users) * frac))


@dataclass(frozen=True)
class Step(Profile):
    """Hold each user count in `steps` for `step_seconds`."""

    steps: tuple[int, ...] = (5, 10, 20, 30, 40)
    step_seconds: float = 25.0
    spawn_rate: float = 10.0
    name = "step"

    def __post_init__(self) -> None:
        if not self.steps or any(s < 1 for s in self.steps):
            raise ValueError("steps must be positive user counts")

    @property
    def duration(self) -> float:
        return self.step_seconds * len(self.steps)

    def users_at(self, t: float) -> int:
        index = min(int(t // self.step_seconds), len(self.steps) - 1)
        return self.steps[index]


@dataclass(frozen=True)
class Spike(Profile):
    """Base load, a sudden spike, then base load again (recovery)."""

    base_users: int = 10
    spike_users: int = 60
    base_seconds: float = 30.0
    spike_seconds: float = 30.0
    recover_seconds: float = 30.0
    spawn_rate: float = 50.0
    name = "spike"

    @property
    def duration(self) -> float:
        return self.base_seconds + self.spike_seconds + self.recover_seconds

    def users_at(self, t: float) -> int:
        if self.base_seconds <= t < self.base_seconds + self.spike_seconds:
            return self.spike_users
        return self.base_users


@dataclass(frozen=True)
class Soak(Profile):
    """A moderate constant load held for a long (but bounded) time."""

    users: int = 20
    seconds: float = 300.0
    spawn_rate: float = 5.0
    name = "soak"

    @property
    def duration(self) -> float:
        return self.seconds

    def users_at(self, t: float) -> int:
        return self.users


SHAPES: dict[str, type[Profile]] = {
    "constant": Constant,
    "ramp": Ramp,
    "step": Step,
    "spike": Spike,
    "soak": Soak,
}

# Environment variable -> (dataclass field, parser), per shape.
_ENV_FIELDS: dict[str, dict[str, str]] = {
    "constant": {"PERF_USERS": "users", "PERF_DURATION": "seconds"},
    "ramp": {
        "PERF_USERS": "users",
        "PERF_RAMP_SECONDS": "ramp_seconds",
        "PERF_HOLD_SECONDS": "hold_seconds",
    },
    "step": {"PERF_STEPS": "steps", "PERF_STEP_SECONDS": "step_seconds"},
    "spike": {
        "PERF_USERS": "base_users",
        "PERF_SPIKE_USERS": "spike_users",
        "PERF_STEP_SECONDS": "spike_seconds",
    },
    "soak": {"PERF_USERS": "users", "PERF_DURATION": "seconds"},
}


def _parse(field: str, raw: str) -> object:
    if field == "steps":
        values = tuple(int(part) for part in raw.replace(" ", "").split(",") if part)
        if not values:
            raise ValueError("PERF_STEPS must list user counts, e.g. 5,10,20")
        return values
    if field.endswith("seconds"):
        return float(raw)
    return int(raw)


def from_env(env: Mapping[str, str] | None = None) -> Profile:
    """Build the profile named by PERF_SHAPE (default step) from PERF_* variables."""
    env = os.environ if env is None else env
    name = env.get("PERF_SHAPE", "step").strip().lower()
    if name not in SHAPES:
        raise ValueError(f"unknown shape {name!r}: choose one of {', '.join(sorted(SHAPES))}")
    kwargs = {}
    for var, field in _ENV_FIELDS[name].items():
        raw = env.get(var)
        if raw:
            try:
                kwargs[field] = _parse(field, raw)
            except ValueError as exc:
                raise ValueError(f"{var}={raw!r} is not valid for shape {name}: {exc}") from exc
    return SHAPES[name](**kwargs)


def locust_shape(profile: Profile) -> type:
    """A Locust LoadTestShape class that follows `profile`."""
    from locust import LoadTestShape

    class ProfileShape(LoadTestShape):
        def tick(self):  # called by Locust about once a second
            tick = profile.target(self.get_run_time())
            return None if tick is None else (tick.users, tick.spawn_rate)

    ProfileShape.__name__ = f"{profile.name.capitalize()}Shape"
    ProfileShape.profile = profile
    return ProfileShape
