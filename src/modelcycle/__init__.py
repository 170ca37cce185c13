"""modelcycle: the machine-learning lifecycle as one loop."""

__version__ = "0.1.0"
