"""Differential tests: every scenario under tests/differential/scenarios runs under the real
stdlib asyncore/asynchat of CPython 3.11 (the oracle) and under asyncore-ng on this
interpreter; the normalized traces must be equal, but for the documented differences of
tests/differential/documented.py. See tests/differential/harness.py for how runs are made,
normalized and cached.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import pytest

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "differential")
sys.path.insert(0, HERE)

import documented  # noqa: E402  (tests/differential on sys.path first)
import harness  # noqa: E402
from conftest import UVLOOP_MISSING  # noqa: E402

SCENARIOS = harness.scenario_names()

#: ``ASYNCORE_NG_BACKEND`` of our runs: this process's (``default``), and the event-loop
#: backends of asyncore_ng.aio.
BACKENDS = ["default", "asyncio", "uvloop"]

#: The event-loop variants add about 25 s each per interpreter, so CI runs them on the oldest
#: CPython and on the newest (3.15), of the FULL_RUNS below: asyncio versions far apart (the
#: rest of the suite runs the asyncio backend everywhere); ASYNCORE_NG_DIFF_ALL=1 runs them
#: everywhere.
LOOP_VARIANTS_HERE = (
    sys.version_info[:2] == (3, 8)
    or sys.version_info >= (3, 15)
    or os.environ.get("ASYNCORE_NG_DIFF_ALL") == "1"
)


#: Pythons whose CI session runs every scenario: 3.11 (the oracle's own version, ours beside
#: it), 3.8 (the oldest), 3.14 and 3.15 (the newest, which users run now). 3.9, 3.10, 3.12 and
#: 3.13 skip, saying so, to keep CI within its budget (each scenario is a fresh interpreter);
#: ASYNCORE_NG_DIFF_ALL=1 runs them everywhere.
FULL_RUNS = {(3, 8), (3, 11), (3, 14), (3, 15)}


@pytest.fixture(scope="module")
def oracle() -> str:
    if sys.version_info[:2] not in FULL_RUNS and os.environ.get("ASYNCORE_NG_DIFF_ALL") != "1":
        pytest.skip(
            "differential scenarios run on 3.8, 3.11, 3.14 and 3.15 in CI (ASYNCORE_NG_DIFF_ALL=1: here too)"
        )
    python, why = harness.find_oracle()
    if python is None:
        print(f"\nSKIP differential tests: {why}")
        pytest.skip(why)
    return python


def _compare(name: str, backend: Optional[str] = None) -> None:
    expected = documented.apply(name, harness.render(harness.oracle_run(name)), backend)
    actual = documented.apply(name, harness.render(harness.ours_run(name, backend)), backend)
    if expected != actual:
        on = f" (ASYNCORE_NG_BACKEND={backend})" if backend else ""
        pytest.fail(
            f"scenario {name}: asyncore-ng{on} differs from the stdlib\n"
            + harness.diff(expected, actual, name),
            pytrace=False,
        )


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_scenario(oracle: str, name: str, backend: str) -> None:
    if backend != "default" and not LOOP_VARIANTS_HERE:
        pytest.skip(
            "the event-loop variants run on CPython 3.8 and 3.15 in CI "
            "(ASYNCORE_NG_DIFF_ALL=1: here too)"
        )
    if backend == "uvloop" and UVLOOP_MISSING is not None:
        pytest.skip(UVLOOP_MISSING)
    _compare(name, None if backend == "default" else backend)


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 60, SCENARIOS


DOCUMENTED_ENTRIES = {
    **{(name, ""): entry for name, entry in documented.DOCUMENTED.items()},
    **{
        (name, backend): entry
        for backend, entries in documented.DOCUMENTED_BY_BACKEND.items()
        for name, entry in entries.items()
    },
}


@pytest.mark.parametrize(("name", "backend"), sorted(DOCUMENTED_ENTRIES))
def test_documented_difference_is_in_compat_md(name: str, backend: str) -> None:
    with open(documented.COMPAT_MD, encoding="utf-8") as f:
        compat = f.read()
    entry = DOCUMENTED_ENTRIES[name, backend]
    assert name in SCENARIOS, f"documented.py names a scenario that does not exist: {name}"
    assert entry.compat_text in compat, f"docs/compat.md no longer says: {entry.compat_text!r}"
    assert entry.replacements, "a documented difference must say which lines it forgives"


# -- the harness can fail ---------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_a_perturbed_implementation_is_reported(oracle: str) -> None:
    """The stdlib with ``log_info`` upper-casing its messages must not compare equal."""
    name = "log_info_and_log"
    expected = harness.render(harness.oracle_run(name))
    perturbed = harness.render(harness.run("stdlib-perturbed", name, oracle))
    assert expected != perturbed
    text = harness.diff(expected, perturbed, name)
    assert "-info: hello" in text and "+info: HELLO" in text, text


@pytest.mark.timeout(120)
def test_the_oracle_agrees_with_itself(oracle: str) -> None:
    """Two oracle runs of a scenario give the same normalized trace (nothing random left)."""
    name = "connect_accept_exchange"
    first = harness.render(harness.run("stdlib", name, oracle))
    second = harness.render(harness.run("stdlib", name, oracle))
    assert first == second, harness.diff(first, second, name)


def test_normalization_keeps_real_differences() -> None:
    path = "/x/scenarios/s.py"
    a = harness.normalize(
        "read 3 bytes from A at 0x7f00aa\n[/x/scenarios/s.py|f|12] [/lib/asyncore.py|g|9]", path
    )
    b = harness.normalize("read 4 bytes from A at 0x7f00bb\n[/x/scenarios/s.py|f|12] [/lib/ng.py|h|1]", path)
    assert a.splitlines()[1] == "[<scenario>|f|12]"
    assert a != b and harness.diff(a, b, "s").count("\n-") == 1


def test_normalization_of_tracebacks() -> None:
    path = "/x/scenarios/s.py"
    text = (
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3.11/runpy.py", line 291, in run_path\n'
        "    return _run_module_code(code, init_globals, run_name,\n"
        '  File "/x/scenarios/s.py", line 7, in <module>\n'
        "    asyncore.loop(map=m)\n"
        "    ~~~~~~~~~~~~~^^^^^^^\n"
        '  File "/src/asyncore/__init__.py", line 70, in loop\n'
        "    _channels.loop(timeout)\n"
        "ValueError: boom"
    )
    assert harness.normalize(text, path).splitlines() == [
        "Traceback (most recent call last):",
        '  File "<scenario>", line 7, in <module>',
        "    asyncore.loop(map=m)",
        "ValueError: boom",
    ]


def test_documented_rewrites_only_listed_lines() -> None:
    entry = documented.Documented("x", (("a 1", "a N"), ("c\nd", ""), ("b", "B")))
    assert entry.apply("a 1\nb 1\nc\nd\nxa 1\nc") == "a N\nb 1\nxa 1\nc"
