#!/usr/bin/env python
import os
import signal
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    except KeyboardInterrupt:
        # Ctrl-C before a command took it (Django still starting), or in one that
        # does not: one line too (the migration app's commands say more), and
        # the process ends without another Ctrl-C turning it into a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sys.stderr.write("interrupted: run the command again\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
