"""Loaded by every pytest run in the repository: the harness's pytest plugin.

The plugin (harness/pytest_plugin.py) adds the options of the harness's one
option table (`--nodes`, `--values`, `--kubeconfig`, ... each also read from
its E2E_* environment variable) and the fixtures that stand the release up
once for the tests that ask for it. It imports only the standard library and
pytest until then, so suites that need no cluster pay nothing for it.
"""

pytest_plugins = ["harness.pytest_plugin"]
