"""Several `slmforge sweep` processes on one study: exactly `trials` trials in all, none run twice.

Optuna hands every process a fresh trial number atomically, but its own stop rule
(MaxTrialsCallback) looks only at trials that have finished: two processes that each start a trial
while the study holds trials - 1 finished ones overshoot the count. So a trial first claims a slot:
it is one of the study's `trials` when fewer than `trials` trials below its number are real ones
(not surplus). A surplus trial is marked, stops its process's loop and is hidden from the summary
(Optuna cannot delete a trial). A slot depends only on lower trial numbers, whose own claims take
milliseconds, so the claims never wait on each other in a cycle.

Trials of a process that died: RDB storages fail them through Optuna's heartbeat; the journal file
has no heartbeat, so a trial started on this host by a process that no longer exists is failed
when the next sweep opens the study.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

SLOT, REAL, SURPLUS = "slot", "real", "surplus"
# A lower trial still claiming its slot after this long belongs to a process killed mid-claim: count it.
CLAIM_WAIT_S = 30.0


def is_surplus(trial: Any) -> bool:
    return trial.user_attrs.get(SLOT) == SURPLUS


def claim_slot(study: Any, trial: Any, target: int) -> bool:
    """True when `trial` is one of the study's `target` trials; marks it real or surplus either way."""
    from optuna.trial import TrialState

    deadline = time.monotonic() + CLAIM_WAIT_S
    while True:
        lower = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
        claiming = [t for t in lower if t.state == TrialState.RUNNING and SLOT not in t.user_attrs]
        if not claiming or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    real = sum(1 for t in lower if not is_surplus(t))
    ok = real < target
    trial.set_user_attr(SLOT, REAL if ok else SURPLUS)
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", os.getpid())
    return ok


def fail_orphans(study: Any) -> list[int]:
    """Fail the running trials started on this host by processes that are gone; returns their numbers."""
    from optuna.trial import TrialState

    host, failed = socket.gethostname(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = t.user_attrs.get("pid")
        if t.user_attrs.get("host") != host or not isinstance(pid, int) or pid == os.getpid() or _alive(pid):
            continue
        study._storage.set_trial_user_attr(t._trial_id, "error", f"process {pid} ended while the trial ran")
        study.tell(t.number, state=TrialState.FAIL)
        failed.append(t.number)
    return failed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
