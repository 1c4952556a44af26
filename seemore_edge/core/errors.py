"""The one exception type a command-line tool turns into a single error line and a non-zero exit."""


class UserError(ValueError):
    """Bad input the user can fix (a path, a file, an option); the message is the whole story.

    A ValueError, so Python callers of the API catch it as the bad argument it is; anything else that escapes a tool
    is a bug and is reported as one (seemore_edge/cli.py)."""
