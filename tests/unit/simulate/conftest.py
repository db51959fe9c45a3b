"""Loads the gati pytest plugin for these tests.

``pytest_plugins`` may only be declared in the rootdir conftest, so the plugin's
fixtures and its marker registration are imported here instead (once the ``pytest11``
entry point is installed, pytest loads the plugin itself and these names just shadow it).
"""

from gati.testing.pytest_plugin import (  # noqa: F401
    gati_client,
    gati_clock,
    gati_seed,
    gati_simulation,
    pytest_configure,
)
