"""Whose a failure is: the product's, the harness's or the machine's, with the evidence.

A repeated suite (`nox -s e2e -- --repeat N`, `nox -s perf -- --repeat N`) runs
every failure it saw through `classify()`. The rules read what the run
recorded: the failure's message, and the diagnostics saved with it (the
cluster's and the namespace's events, nodes, pod logs: `harness.artifacts`).
The first rule that matches decides, machine rules first (a node that ran out
of disk explains a timeout), then the product's, then the harness's known
defects. A failure no rule claims is the harness's, "unclassified": the
harness has not shown whose it is, so it may not blame the product or the
machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PRODUCT, HARNESS, MACHINE = "product", "harness", "machine"
UNCLASSIFIED = "unclassified: no rule names whose failure this is"
# Which recorded text a rule reads.
MESSAGE, EVENTS, APP_LOGS = "the failure's message", "events and nodes", "the app pods' logs"


@dataclass(frozen=True)
class Rule:
    owner: str
    name: str  # the defect or the machine's trouble, as the summary names it
    pattern: str
    reads: tuple[str, ...]


RULES: tuple[Rule, ...] = (
    # A node's conditions are listed healthy or not (`DiskPressure False ...
    # KubeletHasNoDiskPressure`, events `NodeHasNoDiskPressure`): only a condition that is
    # True, or the event of its turning so, is pressure.
    Rule(MACHINE, "a disk of the machine filled up",
         r"no space left on device|DiskPressure\s+True|NodeHasDiskPressure\b|"
         r"EvictionThresholdMet", (MESSAGE, EVENTS)),
    Rule(MACHINE, "a node ran short of memory or process ids",
         r"(MemoryPressure|PIDPressure)\s+True|NodeHasInsufficient(Memory|PID)\b|SystemOOM|"
         r"invoked oom-killer", (EVENTS,)),
    Rule(MACHINE, "the container runtime could not start a container",
         r"FailedCreatePodSandBox|runc create failed|failed to create shim task|"
         r"OCI runtime (create|exec) failed|can't get final child's PID", (MESSAGE, EVENTS)),
    Rule(MACHINE, "the Kubernetes API stopped answering (etcd or the API server starved)",
         r"etcdserver: (request timed out|leader changed)|TLS handshake timeout|"
         r"the server was unable to return a response in the time allotted", (MESSAGE, EVENTS)),
    Rule(PRODUCT, "an acknowledged write was lost",
         r"acknowledged (writes|tasks) lost|tasks lost across", (MESSAGE,)),
    Rule(PRODUCT, "the application answered 500",
         r"\b500 Internal Server Error\b|unexpected 500\b|answered \{?'?500", (MESSAGE,)),
    Rule(PRODUCT, "the service missed an SLO under load", r": \w+ [\d.]+ ?\S* > SLO ",
         (MESSAGE,)),
    Rule(PRODUCT, "an application process raised an unhandled exception",
         r"Traceback \(most recent call last\)", (APP_LOGS,)),
    Rule(HARNESS, "a wait of the harness ran out", r"timed out after \d+ s waiting for",
         (MESSAGE,)),
    Rule(HARNESS, "a check's own code failed (it read what it did not wait for)",
         r"^(IndexError|KeyError|TypeError|AttributeError|NameError|UnboundLocalError)\b",
         (MESSAGE,)),
)  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    owner: str
    name: str
    evidence: str  # the matching line, and where it was found


def _texts(message: str, artifacts: Path | None) -> dict[str, list[tuple[str, str]]]:
    """Per kind of record, (where, text) pairs to search."""
    found: dict[str, list[tuple[str, str]]] = {MESSAGE: [("message", message)], EVENTS: [],
                                               APP_LOGS: []}  # fmt: skip
    if artifacts is not None and artifacts.is_dir():
        for path in sorted(artifacts.rglob("*.txt")):
            text = path.read_text(errors="replace")
            name = path.name
            if name.startswith("cluster-events"):
                text = _own_lines(text, run_namespace=path.parent.parent.name)  # <ns>/<test>/
            if "events" in name or name.startswith(("nodes", "describe-")):
                found[EVENTS].append((str(path.relative_to(artifacts)), text))
            elif name.startswith("logs-") and re.search(r"-(backend|mcp-server|frontend)-", name):
                found[APP_LOGS].append((str(path.relative_to(artifacts)), text))
    return found


def _own_lines(events: str, run_namespace: str) -> str:
    """The cluster-wide events that can explain this run's failure: those of its own
    namespaces (`<run namespace>`, `-checks`, `-up`) and of the nodes. A helper pod of
    another namespace whose sandbox failed once at bring-up, and was retried, is not."""
    lines = events.splitlines()
    kept = [line for line in lines[1:]
            if line.split(" ", 1)[0].startswith(run_namespace) or " node/" in line]  # fmt: skip
    return "\n".join(lines[:1] + kept)


def classify(message: str, artifacts: Path | None = None) -> Verdict:
    """The owner of one failure, named, with the line that shows it."""
    texts = _texts(message, artifacts)
    for rule in RULES:
        for kind in rule.reads:
            for where, text in texts[kind]:
                match = re.search(rule.pattern, text)
                if match:
                    start = text.rfind("\n", 0, match.start()) + 1
                    end = text.find("\n", match.end())
                    line = text[start : end if end >= 0 else len(text)].strip()[:240]
                    return Verdict(rule.owner, rule.name, f"{where}: {line}")
    first = message.strip().splitlines()[0][:240] if message.strip() else "no message"
    return Verdict(HARNESS, UNCLASSIFIED, first)
