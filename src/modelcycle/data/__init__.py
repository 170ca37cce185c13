"""Tables, their schemas, validation splits and reference profiles."""

from modelcycle.data._profile import profile_table
from modelcycle.data._schema import ColumnKind, Schema, Task, infer_kind, infer_task
from modelcycle.data._split import Fold, Validation
from modelcycle.data._table import Table, load_table

__all__ = [
    "ColumnKind",
    "Fold",
    "Schema",
    "Table",
    "Task",
    "Validation",
    "infer_kind",
    "infer_task",
    "load_table",
    "profile_table",
]
