"""The one exception the models package raises for a bad request from its caller."""


class ModelConfigError(ValueError):
    """A bad model name, preset, config key or value given by a user. The message names what
    is wrong and what is valid; the CLI prints it as one line and exits with status 2."""
