"""The fixed, documented exit codes of every exactlink command."""

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes (the table under "Exit codes" in README.md and in `exactlink --help`)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    PARTIAL = 3  # some rows of a bulk run failed, the others were done
    LOGIN_REQUIRED = 4  # no usable token: run `exactlink login`
    LOCKED = 5  # another run holds the lock
    INTERRUPTED = 130
