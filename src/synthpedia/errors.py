"""The one error type users see: it names the file, record or config key at fault."""


class InputError(ValueError):
    """Bad input (a file, a record or a config key). The message says which and why."""
