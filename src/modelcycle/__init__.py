"""modelcycle: the machine-learning lifecycle as one loop.

The names a user imports live here::

    import modelcycle as mc

    table = mc.load_table("adult.csv", target="income")
    board = mc.Learner(table).compare(preset="quick")
    mc.register(board.best, "income", alias="production")
"""

from modelcycle.data import ColumnKind, Schema, Table, Task, Validation, load_table, profile_table
from modelcycle.exceptions import ModelcycleError, ModelcycleWarning
from modelcycle.learn import Candidate, Leaderboard, Learner, register
from modelcycle.registry import Registry

__version__ = "0.1.0"

__all__ = [
    "Candidate",
    "ColumnKind",
    "Leaderboard",
    "Learner",
    "ModelcycleError",
    "ModelcycleWarning",
    "Registry",
    "Schema",
    "Table",
    "Task",
    "Validation",
    "__version__",
    "load_table",
    "profile_table",
    "register",
]
