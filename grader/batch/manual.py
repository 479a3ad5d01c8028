"""TA scores, merged from a CSV into the canonical reports: for `manual` rubric items, and
for automatic items the grader sent to a TA (`pending`: it could not verify them, e.g. a
hand-derived gradient computed with autograd, a model whose buffers hold the validation
set, a cut training run). The grader never turns such an item into points itself; a TA's
number is the only way it scores, and the report says it was the TA's.

CSV: a `netid` column, one column per item id (points, blank = not graded yet), and
optional `<item id>:comment` columns (shown to the student as the item's feedback). A TA
score for an automatic item counts only where that item is `pending` in the student's
report; elsewhere the grader's verified result stands and the report carries a
`ta_score_ignored` finding naming the item (changing a verified result is an override,
not a score).
The whole file is validated before anything is graded; errors name the line and column.
The merged score is recomputed with grader.score.total, so penalties apply exactly as
they do to automatic items.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from grader.errors import GraderError

COMMENT = ":comment"


class ManualScoresError(GraderError):
    """The TA score sheet is malformed; the message names the file, line and column."""


@dataclass(frozen=True)
class ManualScore:
    points: float | None  # None: not graded yet (stays pending)
    comment: str


@dataclass(frozen=True)
class ManualScores:
    source: str
    scores: dict  # netid -> {item id: ManualScore}

    def for_netid(self, netid: str) -> dict:
        return self.scores.get(netid, {})


def load_manual_scores(path: str | Path, rubric, netids: set[str] | None = None) -> ManualScores:
    """Parse and validate the sheet against the rubric's manual items (and the batch's netids)."""
    path = Path(path)
    manual = {i.id: i for i in rubric.items if i.by_ta}
    auto = {i.id: i for i in rubric.items if not i.by_ta}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ManualScoresError(f"cannot read the manual scores {path}: {exc.strerror}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise ManualScoresError(f"{path} is empty; expected a header row: netid,{','.join(manual) or '<manual item id>'}")
    header = [h.strip() for h in rows[0]]
    where = lambda line, col=None: f"{path}:{line}" + (f", column {col!r}" if col else "")  # noqa: E731
    if "netid" not in header:
        raise ManualScoresError(f"{where(1)}: no 'netid' column; the header is {','.join(header)}")
    seen_cols = set()
    for col in header:
        if col in seen_cols:
            raise ManualScoresError(f"{where(1, col)}: the column appears twice")
        seen_cols.add(col)
        if col == "netid":
            continue
        item_id = col[: -len(COMMENT)] if col.endswith(COMMENT) else col
        if item_id not in manual and item_id not in auto:
            raise ManualScoresError(f"{where(1, col)}: unknown item {item_id!r}; the rubric's manual items are "
                                    f"{', '.join(manual) or 'none'} (automatic items take a TA score only where "
                                    "the grader left them pending)")
    scores: dict[str, dict] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise ManualScoresError(f"{where(line)}: {len(row)} cells but the header has {len(header)} columns")
        cells = {h: (row[k].strip() if k < len(row) else "") for k, h in enumerate(header)}
        netid = cells["netid"]
        if not netid:
            raise ManualScoresError(f"{where(line, 'netid')}: empty netid")
        if netids is not None and netid not in netids:
            raise ManualScoresError(f"{where(line, 'netid')}: unknown netid {netid!r}: no submission in this batch has it")
        if netid in scores:
            raise ManualScoresError(f"{where(line, 'netid')}: {netid!r} has a second row; keep one row per student")
        entry = {}
        for item_id, spec in {**manual, **auto}.items():
            if item_id not in seen_cols and item_id + COMMENT not in seen_cols:
                continue
            raw = cells.get(item_id, "")
            comment = cells.get(item_id + COMMENT, "")
            if raw == "":
                if comment:
                    entry[item_id] = ManualScore(None, comment)
                continue
            try:
                value = float(raw)
            except ValueError:
                raise ManualScoresError(f"{where(line, item_id)}: {raw!r} is not a number (netid {netid})") from None
            if not math.isfinite(value) or value < 0 or value > spec.points:
                raise ManualScoresError(f"{where(line, item_id)}: score {raw} is out of range 0..{spec.points:g} (netid {netid})")
            entry[item_id] = ManualScore(value, comment)
        scores[netid] = entry
    return ManualScores(str(path), scores)


def merge_manual(report: dict, entries: dict) -> dict:
    """A copy of `report` with TA scores in its manual items and the score recomputed: the
    entries as decisions made now, through the one merge (grader.batch.ta_journal, which
    also keeps each in the item's history). `grader batch --manual-scores` dates the sheet's
    cells by the file's time instead and mixes them with grader review's journal there."""
    if not entries:
        return report
    from grader.batch.ta_journal import apply_decisions, now, score_decisions

    return apply_decisions(report, score_decisions(entries, "TA sheet", now(), str(report.get("netid", ""))))

