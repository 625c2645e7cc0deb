"""The product's settings plus the benchmark harness: the `bench` command and /bench/ routes.

The harness runs its command and the server under test with these (DJANGO_SETTINGS_MODULE=
bench.settings); the product never reads this module.
"""

from taskmanage.settings import *  # noqa: F403
from taskmanage.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
ROOT_URLCONF = "bench.urls"
