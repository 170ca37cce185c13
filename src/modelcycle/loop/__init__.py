"""The retraining loop: policies, retraining, the champion/challenger gate, promotion, rollback.

* :func:`retrain` fits a registered version's recipe on new labeled data and registers the
  result as a ``challenger`` linked to its parent.
* :func:`compare_versions` judges a challenger against the champion on the same labeled rows
  and records the verdict with its table of reasons.
* :class:`Policy` (a YAML file, :func:`load_policy`) says when to retrain, on which data, how
  to judge and what to do after; :meth:`Policy.decide` is pure, so :func:`run_once` (the real
  loop) and :func:`backtest` (a replay with a simulated clock) share every decision;
  :func:`backtest_starts` replays from several start rows, for a spread instead of one path.
"""

from modelcycle.loop._backtest import BacktestResult, backtest
from modelcycle.loop._gate import GateCheck, GateResult, compare_versions, judge
from modelcycle.loop._policy import (
    Decision,
    LoopState,
    Observation,
    Policy,
    PolicyError,
    load_policy,
)
from modelcycle.loop._retrain import PARENT_KEY, retrain
from modelcycle.loop._starts import StartsResult, backtest_starts
from modelcycle.loop._window import Window, parse_window

__all__ = [
    "PARENT_KEY",
    "BacktestResult",
    "Decision",
    "GateCheck",
    "GateResult",
    "LoopState",
    "Observation",
    "Policy",
    "PolicyError",
    "StartsResult",
    "Window",
    "backtest",
    "backtest_starts",
    "compare_versions",
    "judge",
    "load_policy",
    "parse_window",
    "retrain",
]
