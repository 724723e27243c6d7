"""The fuzz suite's machinery: the `--fuzz-full` option, how many cases to run, Hypothesis
settings, and a tally of the cases printed at the end of the run.

The default run is quick; `--fuzz-full` or FUZZ_FULL=1 runs over 10,000 cases across the photo
upload, the CSV roster import and the websocket, and more per operation of the REST API and per
target of the page and API inputs (dates, numbers, JSON bodies).

A plugin, loaded by tests/conftest.py (`pytest_plugins`), not a conftest in tests/fuzz: pytest
reads options only from the plugins and conftest files it finds at start-up, so `pytest
--fuzz-full` from the project root would not know an option declared in tests/fuzz/conftest.py;
and tests/test_api_schemathesis.py, outside tests/fuzz, uses the same fixtures.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings

# Hypothesis finds failures by itself; the examples it saves would be files in the project, where
# other tests look for files that should not be there. On CI a run is repeatable (derandomize).
settings.register_profile(
    "fuzz",
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
settings.register_profile("fuzz-ci", parent=settings.get_profile("fuzz"), derandomize=True)


@dataclass(frozen=True)
class Budget:
    """Cases per target; the websocket's are shared between binary frames and text messages."""

    upload: int
    csv: int
    websocket_frames: int
    websocket_text: int
    schema: int  # per API operation, for tests/test_api_schemathesis.py
    inputs: int  # per target of tests/fuzz/test_fuzz_inputs.py


DEFAULT = Budget(upload=200, csv=300, websocket_frames=150, websocket_text=150, schema=10, inputs=60)
FULL = Budget(upload=4000, csv=3000, websocket_frames=2000, websocket_text=1000, schema=50, inputs=1000)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-full",
        action="store_true",
        default=False,
        help="Run the full number of fuzz cases (over 10,000; also FUZZ_FULL=1) instead of the quick default.",
    )


def fuzz_full(config: pytest.Config) -> bool:
    return bool(config.getoption("--fuzz-full")) or os.environ.get("FUZZ_FULL") == "1"


@pytest.fixture(scope="session")
def fuzz_budget(request: pytest.FixtureRequest) -> Budget:
    return FULL if fuzz_full(request.config) else DEFAULT


@pytest.fixture(scope="session")
def fuzz_settings() -> Callable[[int], settings]:
    """Hypothesis settings for a test of `n` cases: `@fuzz_settings(n)`."""
    profile = settings.get_profile("fuzz-ci" if os.environ.get("CI") == "true" else "fuzz")
    return lambda max_examples: settings(profile, max_examples=max_examples)


# --- The tally ----------------------------------------------------------------------------------

# "The image is 65535x600 (39.3 megapixels); ..." and "... (broken data stream ...)." are one outcome.
_DETAIL = re.compile(r"\s*\([^()]*\)")
_NUMBER = re.compile(r"[0-9][0-9,.]*")
_QUOTED = re.compile(r"“[^”]*”|'[^']*'")


def outcome_of(message: str) -> str:
    """A message without the case's own numbers, names and details: the kind of answer."""
    shorter = _QUOTED.sub("…", message)
    while _DETAIL.search(shorter):  # innermost first: details may hold details
        shorter = _DETAIL.sub("", shorter)
    return _NUMBER.sub("N", shorter)[:110]


@dataclass
class Target:
    cases: int = 0
    seconds: float = 0.0
    injected: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)

    def record(self, *, injected: tuple[str, ...] | str, outcome: str) -> None:
        self.cases += 1
        self.injected.update([injected] if isinstance(injected, str) else injected)
        self.outcomes[outcome] += 1


@dataclass
class Tally:
    targets: dict[str, Target] = field(default_factory=dict)

    @contextmanager
    def target(self, name: str) -> Iterator[Target]:
        """The named target's counts; the time spent inside counts as its time."""
        target = self.targets.setdefault(name, Target())
        started = time.perf_counter()
        try:
            yield target
        finally:
            target.seconds += time.perf_counter() - started


TALLY = pytest.StashKey[Tally]()


@pytest.fixture(scope="session")
def fuzz_tally(request: pytest.FixtureRequest) -> Tally:
    return request.config.stash.setdefault(TALLY, Tally())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    tally = config.stash.get(TALLY, None)
    if tally is None or not tally.targets:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fuzz cases")
    total = sum(target.cases for target in tally.targets.values())
    mode = "full (--fuzz-full)" if fuzz_full(config) else "default"
    seconds = sum(target.seconds for target in tally.targets.values())
    write(f"{total:,} fuzz cases in {seconds:.1f} s ({mode} run)")
    for name, target in tally.targets.items():
        write(f"{name}: {target.cases:,} cases in {target.seconds:.1f} s")
        injected = ", ".join(f"{label} {count}" for label, count in target.injected.most_common())
        write(f"  injected: {injected}")
        for outcome, count in target.outcomes.most_common():
            write(f"  {count:>6,}  {outcome}")
