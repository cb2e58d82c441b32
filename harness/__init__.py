"""Stands a release of todo-app up, once, for the e2e promises, perf and the CLI.

The flow of a run: the noxfile decides once (toolchain.decide) and makes every
image ready (harness.images) before pytest starts; then one bring-up
(harness.stand_up): cluster (kind with 1..N nodes, or an existing cluster),
images into it, add-ons, a fresh namespace, `helm upgrade --install`, the
backend ready; the promises run against it; tear_down deletes what the run
created. Modules: settings (the one option table), proc (run, wait_until),
kind, kube, addons, release (helm arguments), portforward, artifacts,
images, stand_up, pytest_plugin, local (the app on loopback, no cluster).
"""
