"""Print `name==lower-bound` for each runtime dependency of pyproject.toml (pip constraints).

    python .github/lowest_versions.py pyproject.toml > lowest.txt
    pip install -c lowest.txt -e ".[dev]"

Used by the `lowest-versions` job of .github/workflows/ci.yml. Runs on Python 3.10 (no tomllib),
so it reads the `dependencies = [...]` list of [project] with a regular expression; every entry
must have a `>=` lower bound.
"""

import re
import sys
from pathlib import Path


def lowest_pins(pyproject: str) -> list[str]:
    block = re.search(r"^dependencies = \[(.*?)^\]", pyproject, re.S | re.M)
    if block is None:
        raise SystemExit("lowest_versions: no `dependencies = [` list in pyproject.toml")
    pins = []
    for entry in re.findall(r'"([^"]+)"', block.group(1)):
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)(,.*)?", entry)
        if match is None:
            raise SystemExit(f"lowest_versions: {entry!r} has no `>=` lower bound; add one")
        pins.append(f"{match.group(1)}=={match.group(2)}")
    return pins


if __name__ == "__main__":
    print("\n".join(lowest_pins(Path(sys.argv[1]).read_text())))
