"""The one exception type for user mistakes: printed as a single line, exit code 2."""


class UserError(Exception):
    """Bad input from the user (config, key, value, path). The message names what is wrong
    and what is valid; the CLI prints it without a traceback."""
