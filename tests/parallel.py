"""`make test`: the suite as two pytest processes side by side, then the tests that need the machine to themselves.

Run serially the suite keeps about 1.1 of this kind of machine's 2 cores busy (measured: 1,834 CPU-seconds of user
time in 1,787 s of wall time): most of its time is one process importing torch, loading a model or waiting on a
server it started. Two processes, one torch thread each (group_env), fill the other core: measured 2026-12-02,
the whole `make test` took 20:25 (groups 18:55 and 18:04 side by side, then 1:17 alone) against 29:47 serially;
with two more vLLM tests 22:41 (groups 20:05 and 20:57, then 1:28 alone; 2026-12-02, 16:19-16:41). On another VM
(Intel Xeon with AMX, 2026-12-03) 8:21 (groups 7:04 and 7:42, then 0:33 alone).
Two plain pytest processes, not pytest-xdist: they share nothing but the CPU and each group's output stays whole.
(The QLoRA test ended in "ValueError: I/O operation on closed file" beside another process under both, never
serially: it is marked `alone`, see tests/unit/test_qlora.py.)

Group b is tests/unit and the e2e files in BESIDE (chosen so the two groups take about the same time); group a is
the rest of tests/e2e, so a new e2e file lands in a and a new unit file in b. Tests marked `alone` (gpu_check's MFU
measures the CPU itself; the QLoRA test above) run last, with nothing beside them. Each group writes its log to
.test-logs/ and the terminal gets both groups' progress every 30 s, then each log in full.

    python tests/parallel.py [pytest options...]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# e2e files that run beside tests/unit: with them, the two groups measured 882 s and 828 s of serial time (2026-12-02).
BESIDE = ["tests/e2e/test_vllm.py", "tests/e2e/test_export_embedded.py", "tests/e2e/test_distributed_cli.py"]
NO_TESTS = 5  # pytest's exit code when nothing was selected (-k that matches one group only): not a failure
PERCENT = re.compile(r"\[\s*\d+%\]")
OUTCOMES = re.compile(r"[.FEsxX]+")


def groups() -> dict[str, list[str]]:
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py"))
    gone = [f for f in BESIDE if f not in files]
    if gone:
        raise SystemExit(f"tests/parallel.py: BESIDE names {', '.join(gone)}, which no longer exist; update the list")
    b = [f for f in files if f.startswith("tests/unit/") or f in BESIDE]
    return {"a": [f for f in files if f not in b], "b": b}


def group_env() -> dict[str, str]:
    """One torch thread per group (unless the caller set OMP_NUM_THREADS): with torch's default of a thread per core,
    two groups on 2 cores oversubscribe them. Measured: the suite took 29:43 beside itself that way against 29:47
    serially, burning 3,097 CPU-seconds instead of 1,973 (threads spinning on a core the other group holds)."""
    threads = os.environ.get("OMP_NUM_THREADS", "1")
    return {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def progress(log: Path) -> str:
    """'41 tests done (1 failed)' from pytest -q's outcome characters in the log (a line's percentage comes only once
    the line fills, every ~70 tests)."""
    done = failed = 0
    for line in (log.read_text(errors="replace") if log.exists() else "").splitlines():
        marks = PERCENT.sub("", line).strip()
        if marks and OUTCOMES.fullmatch(marks):
            done += len(marks)
            failed += marks.count("F") + marks.count("E")
    return f"{done} tests done" + (f" ({failed} failed)" if failed else "")


def main(args: list[str]) -> int:
    logs = ROOT / ".test-logs"
    logs.mkdir(exist_ok=True)
    pytest = [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", *args]
    started = time.monotonic()
    procs: dict[str, tuple[subprocess.Popen, Path]] = {}
    try:
        for name, files in groups().items():
            log = logs / f"group-{name}.log"
            with open(log, "w", encoding="utf-8") as out:
                procs[name] = (subprocess.Popen([*pytest, "-m", "not alone", *files], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                                env=group_env()), log)
            print(f"make test: group {name}, {len(files)} files, log {log.relative_to(ROOT)}", flush=True)
        shown = time.monotonic()
        while any(p.poll() is None for p, _ in procs.values()):
            time.sleep(1)
            if time.monotonic() - shown < 30:
                continue
            shown = time.monotonic()
            elapsed = int(shown - started)
            print(f"make test [{elapsed // 60}:{elapsed % 60:02d}] " +
                  " · ".join(f"group {name} {'done' if p.poll() is not None else progress(log)}" for name, (p, log) in procs.items()),
                  flush=True)
    finally:
        for p, _ in procs.values():
            if p.poll() is None:
                p.terminate()
    codes = {}
    for name, (p, log) in procs.items():
        code = p.wait()
        codes[name] = 0 if code == NO_TESTS else code
        print(f"\n======== group {name} (exit {codes[name]}) ========", flush=True)
        sys.stdout.write(log.read_text(errors="replace"))
    print("\n======== the tests marked alone, with nothing beside them ========", flush=True)
    code = subprocess.call([*pytest, "-m", "alone", "tests"], cwd=ROOT)
    codes["alone"] = 0 if code == NO_TESTS else code
    elapsed = int(time.monotonic() - started)
    failed = [name for name, code in codes.items() if code != 0]
    print(f"\nmake test: {elapsed // 60}:{elapsed % 60:02d} · " + ("all groups passed" if not failed else f"FAILED in {', '.join(failed)}"
                                                                   + " (each group's log is in .test-logs/)"), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
