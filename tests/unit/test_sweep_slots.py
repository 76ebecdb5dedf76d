"""Processes sharing one study: trials claim slots so the study holds exactly `trials` trials (no overshoot).

The interleavings that overshot with Optuna's MaxTrialsCallback are replayed here with several
trials asked before any finishes, on the journal file storage that `--storage journal` uses.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import optuna
import pytest
from optuna.trial import TrialState

from slmforge.orchestrate.sweep.slots import claim_slot, fail_orphans, is_surplus
from slmforge.orchestrate.sweep.study import finished

optuna.logging.set_verbosity(optuna.logging.ERROR)


@pytest.fixture
def study(tmp_path):
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "s.journal")))
    return optuna.create_study(storage=storage, study_name="s")


def test_two_trials_started_when_one_slot_is_left_do_not_both_run(study):
    for _ in range(3):  # three trials already finished
        t = study.ask()
        assert claim_slot(study, t, 4)
        study.tell(t, 1.0)
    a, b = study.ask(), study.ask()  # two processes start a trial at the same moment
    assert claim_slot(study, a, 4) is True
    assert claim_slot(study, b, 4) is False and is_surplus(study.trials[b.number])
    study.tell(a, 0.5)
    study.tell(b, state=TrialState.PRUNED)
    assert finished(study) == 4  # the surplus trial does not count


def test_a_claim_waits_for_lower_trials_still_claiming_and_depends_only_on_numbers(study):
    trials = [study.ask() for _ in range(6)]
    result = {}
    # The highest trial claims first (its process was quicker): it waits for the lower ones to claim.
    high = threading.Thread(target=lambda: result.update(high=claim_slot(study, trials[5], 4)))
    high.start()
    time.sleep(0.3)
    assert high.is_alive()
    assert [claim_slot(study, t, 4) for t in trials[:5]] == [True, True, True, True, False]
    high.join(timeout=10)
    assert result == {"high": False}


def test_rerunning_with_more_trials_reuses_nothing_surplus(study):
    for _ in range(2):
        t = study.ask()
        claim_slot(study, t, 2)
        study.tell(t, 1.0)
    extra = study.ask()
    assert not claim_slot(study, extra, 2)
    study.tell(extra, state=TrialState.PRUNED)
    more = study.ask()  # `--trials 3` later: the surplus trial left no hole and took no slot
    assert claim_slot(study, more, 3)


def test_a_trial_of_a_process_that_died_is_failed_when_the_study_opens_again(study):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    t = study.ask()
    claim_slot(study, t, 4)
    study._storage.set_trial_user_attr(t._trial_id, "pid", int(dead.stdout))  # as if that process had run it
    alive = study.ask()
    claim_slot(study, alive, 4)  # this process: still running, left alone
    assert fail_orphans(study) == [t.number]
    frozen = study.trials[t.number]
    assert frozen.state == TrialState.FAIL and "ended while the trial ran" in frozen.user_attrs["error"]
    assert study.trials[alive.number].state == TrialState.RUNNING
