"""Errors a user can act on. The CLI prints them as one red line and exits with code 2."""


class SlmforgeError(Exception):
    """Base class: the message is one line that names the file/key and says what to do."""


class RecipeError(SlmforgeError):
    """The recipe (YAML or --set override) is invalid."""


class DataError(SlmforgeError):
    """The input data cannot be read or prepared."""


class ModelError(SlmforgeError):
    """A model or tokenizer cannot be loaded as asked."""


class RunDirError(SlmforgeError):
    """The run directory is missing something a stage needs."""


class DiskFull(SlmforgeError):
    """A write ran out of space; nothing half-written was left behind. The message says how much was needed."""
