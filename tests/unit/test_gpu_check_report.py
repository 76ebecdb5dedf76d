"""bench/gpu_check_report.py's arithmetic, which only a GPU run would otherwise reach: the peak MFU divides by (by
device name) and the floors' verdicts."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
import gpu_check_report as report  # noqa: E402


@pytest.mark.parametrize("name, tflops", [
    ("NVIDIA H100 80GB HBM3", 989.4), ("NVIDIA H100 PCIe", 756.5), ("NVIDIA H100 NVL", 835.5), ("NVIDIA H200", 989.4),
    ("NVIDIA H200 NVL", 835.0), ("NVIDIA A100-SXM4-80GB", 312.0), ("NVIDIA A100 80GB PCIe", 312.0), ("NVIDIA L4", 121.0),
    ("Tesla T4", 65.0), ("NVIDIA GeForce RTX 4090", 165.2),
])
def test_the_peak_comes_from_the_data_sheet_table_by_device_name(name, tflops):
    assert report.table_peak(name) == pytest.approx(tflops * 1e12)


@pytest.mark.parametrize("name", ["NVIDIA L40S", "NVIDIA RTX A6000", "NVIDIA GeForce RTX 3090"])
def test_a_device_the_table_does_not_know_gets_no_peak_so_the_check_measures_one(name):
    assert report.table_peak(name) is None  # an L40S is not an L4


def step(**data):
    return SimpleNamespace(status="ran", data=data)


def test_floors_pass_and_fail_on_a_gpu_and_are_not_applicable_on_a_cpu():
    base = step(val_loss=4.0)
    good = step(vs_baseline={"tok_s": 1.6, "peak": 0.6}, val_loss=3.9, mfu=0.45)
    verdicts = report.floors({"full": good, "baseline": base}, gpu=True)
    assert {k: v["pass"] for k, v in verdicts.items()} == {"speed": True, "memory": True, "val_loss": True, "mfu": True}
    bad = step(vs_baseline={"tok_s": 1.4, "peak": 0.8}, val_loss=4.1, mfu=0.3)
    verdicts = report.floors({"full": bad, "baseline": base}, gpu=True)
    assert {k: v["pass"] for k, v in verdicts.items()} == {"speed": False, "memory": False, "val_loss": False, "mfu": False}
    assert all(v["pass"] is None for v in report.floors({"full": good, "baseline": base}, gpu=False).values())
    no_memory = step(vs_baseline={"tok_s": 1.6, "peak": None}, val_loss=3.9, mfu=0.45)
    assert report.floors({"full": no_memory, "baseline": base}, gpu=True)["memory"]["pass"] is None  # no figure, no verdict
    failed = SimpleNamespace(status="failed", data={})
    assert "note" in report.floors({"full": failed, "baseline": base}, gpu=True)
