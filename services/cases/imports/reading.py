"""Raw rows out of a CSV file as Excel saves it, or out of the JSON API's list of rows."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO

from services.cases.imports.columns import ALIASES, REQUIRED, SPECS
from services.cases.imports.report import ImportRefused

PROBLEMS = "_problems"  # key of a raw row carrying what was wrong before any column was read


def columns_of(header: list[str], kind: str) -> list[str]:
    """Map a file's header (English or Chinese names) to our column names, or refuse it.

    A column with no name is left out (Excel keeps formatted empty columns); cells under it must be blank.
    """
    allowed = SPECS[kind]
    names = [ALIASES.get(cell.strip(), cell.strip().lower()) for cell in header]
    problems = [f"Unknown column: {name!r}." for name in names if name and name not in allowed]
    twice = sorted({name for name in names if name and names.count(name) > 1})
    problems += [f"Column given twice: {name}." for name in twice]
    problems += [f"Missing column: {name}." for name in REQUIRED[kind] if name not in names]
    if problems:
        raise ImportRefused("The header row is not usable.", {"header": problems})
    return names


def csv_rows(binary: IO[bytes], kind: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line, row) from CSV bytes as Excel saves them (UTF-8, with or without a BOM)."""
    stream = binary if hasattr(binary, "read1") else io.BufferedReader(binary)
    # surrogateescape keeps undecodable bytes on their row, so a refusal can name the line.
    reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise ImportRefused("The file is empty.")
        _utf8(header, 1)
        names = columns_of(header, kind)
        end = reader.line_num
        for cells in reader:
            start, end = end + 1, reader.line_num  # a quoted cell may span lines
            if not any(cell.strip() for cell in cells):
                continue
            _utf8(cells, start)
            row = dict(zip(names, cells, strict=False))
            if len(cells) > len(names):
                row[PROBLEMS] = {"_row": [f"{len(cells)} cells but {len(names)} columns."]}
            elif any(cell.strip() for name, cell in zip(names, cells, strict=False) if not name):
                row[PROBLEMS] = {"_row": ["A cell under a column with no name."]}
            row.pop("", None)
            yield start, row
    except csv.Error as exc:
        raise ImportRefused(f"Line {reader.line_num} is not valid CSV: {exc}.") from exc


def _utf8(cells: list[str], line: int) -> None:
    try:
        "".join(cells).encode("utf-8")
    except UnicodeEncodeError:
        raise ImportRefused(f"Line {line} is not UTF-8 text: save the file as 'CSV UTF-8'.") from None


def json_rows(items: list, kind: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (position, row) from the JSON API's rows: same columns, values as JSON scalars."""
    allowed = SPECS[kind]
    for line, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            yield line, {PROBLEMS: {"_row": ["Not an object."]}}
            continue
        row, problems = {}, {}
        for key, value in item.items():
            name = ALIASES.get(key, key)
            if name not in allowed:
                problems[key] = ["Unknown field."]
            elif (text := _as_text(value)) is None:
                problems[name] = ["Not a text, number or boolean."]
            else:
                row[name] = text
        if problems:
            row[PROBLEMS] = problems
        yield line, row


def _as_text(value) -> str | None:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ";".join(value)  # phones and emails may come as lists
    return None
