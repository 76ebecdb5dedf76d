"""`slmforge corpus ...`: files written, tables printed, bad input is one red line and exit 2."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from slmforge.corpora.cli import app
from slmforge.corpora.recipenlg.sample import write_sample_csv

runner = CliRunner()


def test_folksy_with_a_small_sayings_count_still_writes_four_pairs_per_saying(tmp_path):
    out = tmp_path / "folksy.jsonl"
    result = runner.invoke(app, ["folksy", "--out", str(out), "--sayings", "1000", "--seed", "4", "--balance", "--entities", "20"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 4020
    for table in ("Sayings by family", "Pairs by prompt type", "Saying length", "entity_seeded", "tautological_wisdom"):
        assert table in result.output
    assert "wrote 4,020 pairs (1,000 sayings)" in result.output


def test_prices_writes_listings_and_a_price_summary(tmp_path):
    out = tmp_path / "prices.jsonl"
    result = runner.invoke(app, ["prices", "--out", str(out), "--items", "300"])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 300 and "Listings by category" in result.output and "price: min $" in result.output


def test_recipenlg_converts_the_fixture_and_reports_malformed_rows(tmp_path):
    csv_path = write_sample_csv(tmp_path / "full_dataset.csv")
    out = tmp_path / "chef.jsonl"
    result = runner.invoke(app, ["recipenlg", "--csv", str(csv_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Malformed rows" in result.output and "bad_json_ingredients" in result.output and "4 recipes, 3 malformed" in result.output
    assert out.read_text().count("\n") > 4


def test_missing_csv_is_one_red_line_and_exit_2(tmp_path):
    out = tmp_path / "chef.jsonl"
    result = runner.invoke(app, ["recipenlg", "--csv", str(tmp_path / "missing.csv"), "--out", str(out)])
    assert result.exit_code == 2
    assert "missing.csv" in result.output and "--csv" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


def test_too_many_sayings_is_a_clear_error_not_a_hang(tmp_path):
    result = runner.invoke(app, ["folksy", "--out", str(tmp_path / "f.jsonl"), "--sayings", "100000"])
    assert result.exit_code == 2 and "at most 15,000" in result.output and "Traceback" not in result.output
