"""``python -m helpers``: the command line (see :mod:`helpers.cli`)."""

import signal
import sys

from helpers.cli import main


def run() -> None:
    """Run the command line and exit with its status."""
    status = main()
    if status in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        # Stopped by a signal and reported: what is left is the interpreter's
        # shutdown, which a late Ctrl-C would only interrupt with a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(status)


if __name__ == "__main__":
    run()
