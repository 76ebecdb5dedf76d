"""Human spot-check: ratings read back with shares against the targets; untrustworthy files refused."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from slmforge.core.errors import DataError
from slmforge.evaluate.spotcheck import read_ratings


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "prompt", "output", "reference", "rating"])
        for rid, rating in rows:
            writer.writerow([rid, "p", "o", "r", rating])
    return path


def test_shares_are_computed_over_every_rated_row_case_insensitively(tmp_path):
    rows = [(str(i), r) for i, r in enumerate(["Good"] * 7 + ["okay"] * 2 + ["BAD"])]
    ratings = read_ratings(write_csv(tmp_path / "s.csv", rows), {str(i) for i in range(20)})
    assert ratings.counts == {"Good": 7, "Okay": 2, "Bad": 1}
    assert (ratings.good, ratings.bad) == (0.7, 0.1)
    assert not ratings.passed  # Bad must be *below* 10 %
    assert read_ratings(write_csv(tmp_path / "t.csv", rows[:9]), None).passed  # 7/9 Good, no Bad


@pytest.mark.parametrize(
    "rows, message",
    [
        ([("0", "Good"), ("1", "great")], r"s.csv:3: unknown rating 'great'; write Good, Okay or Bad"),
        ([("0", "Good"), ("1", "")], r"s.csv:3: no rating; write Good, Okay or Bad"),
        ([("0", "Good"), ("99", "Bad")], r"s.csv:3: id '99' is not a sample of this run's eval"),
        ([("0", "Good"), ("0", "Bad")], r"s.csv:3: id 0 is rated twice"),
    ],
)
def test_a_file_with_unknown_ratings_or_rows_is_refused_naming_the_line(tmp_path, rows, message):
    with pytest.raises(DataError, match=message):
        read_ratings(write_csv(tmp_path / "s.csv", rows), {"0", "1", "2"})


def test_rate_cli_reports_against_the_recipe_targets_and_refuses_in_one_line(tmp_path):
    run = tmp_path / "runs" / "demo"
    (run / "eval").mkdir(parents=True)
    (run / "recipe.yaml").write_text(yaml.safe_dump({"name": "demo", "data": {"path": "x.jsonl"},
                                                     "eval": {"targets": {"min_good": 0.5, "max_bad": 0.2}}}))
    (run / "eval" / "samples.jsonl").write_text("".join(json.dumps({"id": i}) + "\n" for i in range(10)))
    good = write_csv(tmp_path / "rated.csv", [(str(i), "Good" if i < 6 else "Bad") for i in range(10)])
    cmd = [sys.executable, "-m", "slmforge", "rate", str(run)]
    done = subprocess.run([*cmd, str(good)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr  # 40 % Bad is above the 20 % target
    assert "Good 60% (target > 50%)" in done.stderr and "Bad 40% (target < 20%)" in done.stderr
    assert json.loads((run / "eval" / "ratings.json").read_text())["passed"] is False
    bad = write_csv(tmp_path / "bad.csv", [("0", "meh")])
    done = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [f"error: {bad}:2: unknown rating 'meh'; write Good, Okay or Bad"]
