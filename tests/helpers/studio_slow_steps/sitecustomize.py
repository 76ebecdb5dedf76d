"""Test-only: on PYTHONPATH, every training step of this process sleeps $STUDIO_TEST_STEP_SLEEP seconds.

The browser test needs a run that is still training while it watches the chart and presses Stop;
a tiny model would finish in a few seconds on a fast machine. The studio starts `slmforge run` as
a child that inherits the environment, so the delay reaches the real trainer without any hook in
slmforge itself. Nothing is imported until slmforge.train.trainer is (the studio process never).
"""

import importlib.abc
import importlib.util
import os
import sys

_DELAY = float(os.environ.get("STUDIO_TEST_STEP_SLEEP") or 0)


class _SlowSteps(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201
        if name != "slmforge.train.trainer":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        exec_module = spec.loader.exec_module

        def exec_then_slow(module):  # noqa: ANN001, ANN202
            exec_module(module)
            import time

            step = module.RunTrainer.training_step

            def slow_step(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
                time.sleep(_DELAY)
                return step(self, *args, **kwargs)

            module.RunTrainer.training_step = slow_step

        spec.loader.exec_module = exec_then_slow
        return spec


if _DELAY > 0:
    sys.meta_path.insert(0, _SlowSteps())
