"""Render RELIABILITY.md from the figures the fault suite wrote.

Usage: ``python benchmarks/reliability.py [bench-results/faults.json] [-o RELIABILITY.md]``

The fault suite (``pytest -m faults tests/faults``) writes its figures to
``bench-results/faults.json`` (or ``$RELIABILITY_FIGURES``): per case, what was
produced, stored, lost, doubled, published, and how long another user waited.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

INTRO = """# Reliability

What the fault suite (`tests/faults/`, marker `faults`, run by CI with the rest) does
to a running boom_flow, and what it costs. Every case runs against real processes: its
own SecantusDB, Tansu and Valkey (started on free ports in a temporary folder, stopped
and restarted by the cases), `boom-flow run` and `boom-flow api` as processes of their
own, a Dask worker with a nanny. Each case checks the archive (every alert stored once,
no history point twice) and the results topic (every filter result published once);
the answer must be *nothing lost, nothing doubled*.

*Lost*: produced, and neither stored nor rejected with its reason. *Duplicated*: history
points stored twice (alert ids are unique keys, so an alert cannot be). *Results
duplicated*: the same (alert, filter) pair on the results topic more than once. *Longest
wait of another user*: the slowest query of a second user while the case ran. Times
are wall-clock on the machine named below, which other jobs shared.

## How to reproduce

```bash
pip install -e ".[test]"
pytest -m faults tests/faults                  # writes bench-results/faults.json
python benchmarks/reliability.py              # renders this file from it
```

## Figures of the last run
"""

COLUMNS = [("alerts_produced", "alerts produced"), ("alerts_stored", "stored"),
           ("alerts_rejected", "rejected"), ("alerts_lost", "lost"),
           ("alerts_duplicated", "duplicated"), ("results_published", "results published"),
           ("results_lost", "results lost"), ("results_duplicated", "results duplicated"),
           ("longest_block_s", "longest wait of another user (s)")]


def _cell(case: dict[str, Any], key: str) -> str:
    value = case.get(key)
    return "—" if value is None else str(value)


def render(figures: dict[str, Any]) -> str:
    machine = figures["machine"]
    lines = [INTRO,
             f"{machine['cpus']} cores, Python {machine['python']}, {machine['system']}; "
             f"the suite took {figures['suite_seconds']:.0f} s.\n",
             "| case | " + " | ".join(title for _, title in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 1) + "|"]
    for case in figures["cases"]:
        lines.append(f"| {case['case']} | "
                     + " | ".join(_cell(case, key) for key, _ in COLUMNS) + " |")
    lines.append("\n## What each case did\n")
    for case in figures["cases"]:
        extra = [f"{key.replace('_', ' ')}: {value}" for key, value in case.items()
                 if key not in {k for k, _ in COLUMNS} | {"case", "notes", "results_expected"}]
        text = "; ".join([*extra, case.get("notes", "")]).strip("; ")
        lines.append(f"- **{case['case']}**: {text}.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figures", nargs="?", type=Path,
                        default=Path("bench-results/faults.json"))
    parser.add_argument("-o", "--out", type=Path, default=Path("RELIABILITY.md"))
    args = parser.parse_args()
    args.out.write_text(render(json.loads(args.figures.read_text())))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
