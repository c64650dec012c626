"""User-facing errors.

Every problem a user can cause (bad flags, bad files, bad data, an unusable store) is raised as a
:class:`BakeoffError` whose message is one line naming the problem and the fix. The CLI prints that
line and exits non-zero, so nothing half-done is written and no traceback hides the message.
"""


class BakeoffError(Exception):
    """A problem with the user's input or environment, with a one-line message saying how to fix it."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
