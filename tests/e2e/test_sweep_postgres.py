"""A sweep shared through PostgreSQL, as between machines: two `slmforge sweep` processes, each with its
own runs directory (its own machine), one study in a PostgreSQL server this test starts and stops.

Runs when Debian's postgresql package (server binaries under /usr/lib/postgresql/*/bin) and a
SQLAlchemy driver (`pip install "psycopg[binary]"`) are installed; skips saying which is missing.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.helpers.sweeps import two_sweeps


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    which = shutil.which("pg_ctl")
    return Path(found[-1]).parent if found else (Path(which).parent if which else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url():
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server: install Debian's postgresql package (apt-get install -y postgresql) to run this test")
    if importlib.util.find_spec("psycopg") is None:
        pytest.skip('no PostgreSQL driver for SQLAlchemy: pip install "psycopg[binary]" to run this test')
    # initdb refuses to run as root: run the server as the postgres user the Debian package creates.
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="slmforge-pg-"))
    root.chmod(0o755)
    if as_user:
        os.chown(root, user.pw_uid, user.pw_gid)
    data, port = root / "data", _free_port()
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "slm", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True, text=True)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
                   check=True, capture_output=True, text=True)
    try:
        yield f"postgresql+psycopg://slm@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_two_machines_share_one_postgresql_study_and_split_its_trials(tmp_path, tiny_qwen2, postgres_url):
    import optuna

    machines = ("machine-a", "machine-b")
    ran = two_sweeps(tmp_path, tiny_qwen2, "pg", {"trials": 4},
                     [["--storage", postgres_url, "--runs", machine] for machine in machines])
    assert not ran[0] & ran[1] and len(ran[0] | ran[1]) == 4
    study = optuna.load_study(study_name="pg", storage=postgres_url)
    real = [t for t in study.trials if t.user_attrs.get("slot") != "surplus"]
    assert len(real) == 4 and all(t.state.name == "COMPLETE" for t in real)
    # Each machine keeps the run directories of the trials it ran.
    for machine, numbers in zip(machines, ran):
        trials = tmp_path / machine / "pg" / "trials"
        names = sorted(p.name for p in trials.iterdir()) if trials.exists() else []
        assert names == [f"trial-{n:03d}" for n in sorted(numbers)]
