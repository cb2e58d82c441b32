"""A repeated e2e leg: its runs collected one by one, and what they say together."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e import repeat


@pytest.mark.parametrize(
    ("args", "expected"),
    [([], (1, [])), (["--repeat", "5", "-x"], (5, ["-x"])), (["-k", "health", "--repeat=3"],
                                                             (3, ["-k", "health"]))],
)  # fmt: skip
def test_the_repeat_option_is_taken_out_of_pytests_arguments(args, expected) -> None:
    assert repeat.split_args(args) == expected


@pytest.mark.parametrize("bad", ["0", "two", ""])
def test_a_repeat_that_is_not_a_count_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="--repeat takes a whole number"):
        repeat.split_args(["--repeat", bad])


def _record(root: Path, tests: dict[str, dict], exit_status: int = 0) -> None:
    (root / "reports").mkdir(parents=True, exist_ok=True)
    results = {"tests": tests, "finished": {"exit_status": exit_status}}
    (root / "reports" / "e2e-results.json").write_text(json.dumps(results))


def test_each_run_is_moved_aside_with_its_artifacts(tmp_path: Path) -> None:
    _record(tmp_path, {})
    (tmp_path / "reports" / "perf").mkdir()  # another session's: stays
    (tmp_path / "artifacts" / "ns" / "t").mkdir(parents=True)
    folder = tmp_path / "reports" / "repeat"
    moved = repeat.collect(2, root=tmp_path, folder=folder)
    assert (moved / "reports" / "e2e-results.json").exists()
    assert (moved / "artifacts" / "ns" / "t").is_dir()
    assert not (tmp_path / "artifacts").exists() and (tmp_path / "reports" / "perf").exists()


def test_the_tally_counts_passes_per_test_and_promise_and_classifies_each_failure(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "repeat"
    passed = {"a": {"name": "test_a", "promise": "3", "outcome": "passed"},
              "b": {"name": "test_b", "promise": "8", "outcome": "passed"}}  # fmt: skip
    _record(repeat.run_folder(1, folder), passed)
    lost = {**passed, "b": {"name": "test_b", "promise": "8", "outcome": "failed",
                            "message": "acknowledged writes lost: {3: 'x'}",
                            "artifacts": "artifacts/ns/test_b"}}  # fmt: skip
    _record(repeat.run_folder(2, folder), lost, exit_status=1)
    _record(repeat.run_folder(3, folder), {}, exit_status=2)  # interrupted before any test
    tally = repeat.tally(folder)
    assert tally["runs"] == 3 and tally["red_runs"] == [2, 3]
    assert tally["tests"]["test_a"]["passed"] == 2 and tally["tests"]["test_b"]["passed"] == 1
    assert tally["promises"]["8"] == {"runs": 2, "passed": 1, "not_proven": 0}
    failure = tally["tests"]["test_b"]["failures"][0]
    assert (failure["run"], failure["owner"]) == (2, "product")
    itself = tally["tests"]["(the run itself)"]["failures"][0]
    assert (itself["run"], itself["owner"], itself["name"]) == (3, "harness",
                                                               "unclassified: no rule names "
                                                               "whose failure this is")  # fmt: skip
    assert tally["failures_by_owner"] == {"product": 1, "harness": 1}
    text = repeat.markdown(tally)
    assert "2/3 runs with a failure" in text and "| test_b | 8 | 1 / 2 | run 2: **product**" in text


def test_a_run_that_wrote_no_results_counts_as_a_red_run_of_the_harness(tmp_path: Path) -> None:
    folder = tmp_path / "repeat"
    _record(repeat.run_folder(1, folder), {"a": {"name": "test_a", "promise": "3",
                                                 "outcome": "passed"}})  # fmt: skip
    (repeat.run_folder(2, folder) / "reports").mkdir(parents=True)  # pytest exit 4: nothing
    broken = repeat.run_folder(3, folder) / "reports"
    broken.mkdir(parents=True)
    (broken / "e2e-results.json").write_text('{"tests": {')  # a crash mid-write
    tally = repeat.tally(folder)
    assert tally["runs"] == 3 and tally["red_runs"] == [2, 3]
    itself = tally["tests"]["(the run itself)"]["failures"]
    assert [(f["run"], f["owner"]) for f in itself] == [(2, "harness"), (3, "harness")]
    assert "wrote no readable e2e-results.json" in itself[0]["evidence"]
    assert repeat.summarize(folder) == 1


def test_a_run_without_results_is_classified_from_what_it_saved(tmp_path: Path) -> None:
    folder = tmp_path / "repeat"
    saved = repeat.run_folder(1, folder) / "artifacts" / "ns"
    saved.mkdir(parents=True)
    events = "1m  Warning  EvictionThresholdMet  node/n  Attempting to reclaim ephemeral-storage\n"
    (saved / "cluster-events.txt").write_text(events)
    failure = repeat.tally(folder)["tests"]["(the run itself)"]["failures"][0]
    assert (failure["run"], failure["owner"]) == (1, "machine")


def test_a_run_is_not_credited_with_results_an_earlier_run_left(tmp_path: Path) -> None:
    _record(tmp_path, {"a": {"name": "test_a", "promise": "3", "outcome": "passed"}})
    (tmp_path / "artifacts" / "ns").mkdir(parents=True)
    (tmp_path / "reports" / "perf").mkdir()  # another session's: stays
    folder = tmp_path / "reports" / "repeat"
    repeat.clear(root=tmp_path)
    # The run itself stops before recording anything (pytest refusing an option).
    moved = repeat.collect(1, root=tmp_path, folder=folder)
    assert not (moved / "reports" / "e2e-results.json").exists()
    assert not (moved / "artifacts").exists() and (tmp_path / "reports" / "perf").is_dir()
    assert repeat.tally(folder)["red_runs"] == [1]


def test_summarizing_a_folder_that_is_not_there_is_one_line(tmp_path, capsys) -> None:
    from e2e.repeat import main

    assert main(["summary", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
