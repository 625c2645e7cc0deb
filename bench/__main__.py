"""`python -m bench <area>|all [options]`: the `bench` command under bench.settings.

The settings are forced rather than defaulted: with the product's settings (a
DJANGO_SETTINGS_MODULE left in the environment) the command and the baseline routes do not
exist.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    from django.core.management import execute_from_command_line

    execute_from_command_line(["python -m bench", "bench", *sys.argv[1:]])


if __name__ == "__main__":
    main()
