"""CSV cells that a spreadsheet opens as text, never as a formula (and back again).

Labels, notes and rejected lines are text that callers and list files control. Excel and
LibreOffice run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return before one) as a formula, so a label ``=HYPERLINK(...)`` in an export, or a
rejected line ``+cmd|...`` in a rejection report, would run when the file is opened.
Every cell Screener writes to a CSV file goes through :func:`safe_cell`, which puts a
``'`` in front of such a cell (the OWASP recommendation); the importer reads cells back
through :func:`unescape_cell`, so an exported list imports unchanged.

The rule, exactly:

- a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
  ``'`` in front, except a ``+`` followed by digits only, with at most one ``*`` at the
  end (``+447700900123``, the prefix range ``+44161496*``): a phone number, which cannot
  be a formula that does anything, is written as it is;
- a cell that starts with ``'`` followed by one of those characters or another ``'``
  gets one more ``'`` in front, so that reading back is exact;
- reading back removes one leading ``'`` when the next character is one of those or
  ``'``, and leaves every other cell alone.
"""

from __future__ import annotations

import re

FORMULA_STARTS = frozenset("=+-@\t\r")
"""First characters that make a spreadsheet read a cell as a formula."""

ESCAPE = "'"

_PHONE_NUMBER = re.compile(r"\+[0-9]+\*?")


def _escaped_start(cell: str) -> bool:
    return len(cell) > 1 and cell[0] == ESCAPE and (cell[1] in FORMULA_STARTS or cell[1] == ESCAPE)


def safe_cell(cell: str) -> str:
    """``cell`` as it must be written to a CSV file (see the module docstring)."""
    if not cell:
        return cell
    if cell[0] in FORMULA_STARTS:
        if _PHONE_NUMBER.fullmatch(cell):
            return cell
        return ESCAPE + cell
    if _escaped_start(cell):
        return ESCAPE + cell
    return cell


def unescape_cell(cell: str) -> str:
    """The value of a cell :func:`safe_cell` wrote (any other cell is returned as it is)."""
    return cell[1:] if _escaped_start(cell) else cell


def safe_row(cells: tuple[object, ...] | list[object]) -> list[object]:
    """A row for ``csv.writer``: every text cell made safe, other values as they are."""
    return [safe_cell(cell) if isinstance(cell, str) else cell for cell in cells]
