"""The one exception type a command-line tool turns into a single error line and a non-zero exit."""


class UserError(Exception):
    """Bad input the user can fix (a path, a file, an option); the message is the whole story."""
