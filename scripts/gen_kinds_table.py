"""Write the README's table of check kinds and their parameters from the kinds' Params.

    python scripts/gen_kinds_table.py          # rewrite the block in README.md
    python scripts/gen_kinds_table.py --check  # exit 1 when README.md differs (CI, tests)

The block sits between grader.checks.registry's KINDS_TABLE_BEGIN/END markers.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.checks import registry  # noqa: E402

README = ROOT / "README.md"


def updated(text: str) -> str:
    begin = text.index(registry.KINDS_TABLE_BEGIN)
    end = text.index(registry.KINDS_TABLE_END) + len(registry.KINDS_TABLE_END)
    return text[:begin] + registry.markdown_table() + text[end:]


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    new = updated(text)
    if "--check" in argv:
        if new != text:
            print("README.md's table of check kinds is out of date: run python scripts/gen_kinds_table.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
