"""The slow, exact path: name the first line and field of a Criteo CSV file that breaks the rules.

Run only after the fast reader has rejected a file, so its cost (a Python loop over every line,
seconds per million lines) is paid on the error path alone. Each rule comes from ``criteo_fields``.
"""

from __future__ import annotations

import io
import re
from typing import Iterator, NoReturn

from widedeep_bench import layout
from widedeep_bench.data import criteo_fields as rules
from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import progress

_INTEGER = re.compile(rules.INTEGER_PATTERN)
_CONTROL = re.compile(rules.CONTROL_PATTERN)
_HEADER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ ]*")
_NUMERIC_NAMES = frozenset(layout.NUMERIC_COLUMNS)


def raise_first_bad_line(data: bytes, source: str, reason: str) -> NoReturn:
    """Raise a ``WidedeepError`` naming ``source``, the first bad line (1-based) and its field.

    ``reason`` is why the fast reader gave up; it is quoted only if no line breaks a rule, which would
    mean the two readers disagree (a bug in this package, reported as such).
    """
    if data.startswith(rules.UTF16_BOMS):
        raise WidedeepError(f"{source} line 1: the file is UTF-16 text (it opens with a UTF-16 byte order mark), "
                            "not UTF-8; convert it first, e.g. iconv -f UTF-16 -t UTF-8")
    first_fields = rules.first_line_field_count(data)
    names = rules.column_names(first_fields)
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    unterminated = lines if not data.endswith(b"\n") else 0  # the last line, when it lacks its line end
    texts = progress(_decoded_lines(data, source, names), desc=f"finding the bad line of {source}", total=lines,
                     unit="lines")
    for lineno, text in enumerate(texts, 1):
        # Without quoting, a comma always separates fields, so splitting is the whole CSV grammar here
        # (and, unlike the csv module, has no field size limit that the fast reader lacks).
        fields = text.split(",") if text else []
        if lineno == 1:
            _reject_header(source, fields, names)
            expected = _first_line_count(source, fields)
        _check_line(source, lineno, fields, names, expected, cut=lineno == unterminated)
    raise WidedeepError(f"{source}: the fast reader rejected the file ({reason}), yet no line breaks the "
                        "Criteo CSV rules; this is a bug in widedeep_bench.data, please report it")


def _decoded_lines(data: bytes, source: str, names: tuple[str, ...]) -> Iterator[str]:
    """Each line as text without its "\\n" or "\\r\\n" end; a line that is not UTF-8, or holds a control
    character other than a tab (tabs get a better message once fields are split), is binary."""
    for lineno, raw in enumerate(io.BytesIO(data), 1):
        if lineno == 1 and raw.startswith(rules.UTF8_BOM):
            raw = raw[len(rules.UTF8_BOM):]  # skipped, as the fast reader skips it: not part of line 1
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            field = rules.field_name(names, raw[:exc.start].count(b","))
            raise WidedeepError(f"{source} line {lineno}, field {field}: byte 0x{raw[exc.start]:02x} is not "
                                "UTF-8 text; this looks like a binary file, not a Criteo CSV") from None
        control = next((m for m in _CONTROL.finditer(text) if m.group() != "\t"), None)
        if control is not None:
            field = rules.field_name(names, text[:control.start()].count(","))
            raise WidedeepError(f"{source} line {lineno}, field {field}: control character "
                                f"U+{ord(control.group()):04X} in the text; this looks like a binary file, "
                                "not a Criteo CSV")
        yield text


def _reject_header(source: str, fields: list[str], names: tuple[str, ...]) -> None:
    if len(fields) >= 2 and all(_HEADER_NAME.fullmatch(value) for value in fields[:2]):
        raise WidedeepError(f"{source} line 1, field {names[0]}: {fields[0]!r} is a column name, so line 1 "
                            f"looks like a header ({rules.preview(','.join(fields[:4]))}...); a Criteo eval "
                            "file has no header line: delete line 1")


def _first_line_count(source: str, fields: list[str]) -> int:
    if not fields:
        raise WidedeepError(f"{source} line 1: empty line; expected {rules.LABELLED_FIELDS} (labelled) or "
                            f"{rules.UNLABELLED_FIELDS} (unlabelled) comma-separated fields")
    if len(fields) not in (rules.LABELLED_FIELDS, rules.UNLABELLED_FIELDS):
        raise WidedeepError(f"{source} line 1: expected {rules.LABELLED_FIELDS} (labelled) or "
                            f"{rules.UNLABELLED_FIELDS} (unlabelled) comma-separated fields, got "
                            f"{len(fields)}{_tab_hint(fields)}")
    return len(fields)


def _check_line(source: str, lineno: int, fields: list[str], names: tuple[str, ...], expected: int,
                cut: bool = False) -> None:
    """``cut``: this is the last line and no line end follows it (a file or stream cut short looks so)."""
    where = f"{source} line {lineno}"
    if not fields:
        raise WidedeepError(f"{where}: empty line; expected {expected} comma-separated fields")
    if len(fields) != expected:
        cut_hint = " (it is the last line and has no line end: was the file cut short?)" if cut else ""
        raise WidedeepError(f"{where}: expected {expected} comma-separated fields like line 1, got "
                            f"{len(fields)}{_tab_hint(fields)}{cut_hint}")
    for name, value in zip(names, fields):
        if "\t" in value:
            raise WidedeepError(f"{where}, field {name}: control character U+0009 (tab) in "
                                f"{rules.preview(value)}; this does not look like a Criteo CSV")
        if name == layout.LABEL_COLUMN and value not in rules.LABEL_VALUES:
            raise WidedeepError(f"{where}, field {name}: expected 0 or 1, got {rules.preview(value)}"
                                f"{_bom_hint(value)}")
        if name in _NUMERIC_NAMES and value:
            if not _INTEGER.fullmatch(value):
                raise WidedeepError(f"{where}, field {name}: expected an integer (or nothing, for a missing "
                                    f"value), got {rules.preview(value)}{_bom_hint(value)}")
            if not _fits_int64(value):
                raise WidedeepError(f"{where}, field {name}: expected an integer within int64, got "
                                    f"{rules.preview(value)}")


def _fits_int64(integer_text: str) -> bool:
    # Python refuses int() on texts over 4300 digits; anything over 19 significant digits overflows anyway.
    if len(integer_text.lstrip("-").lstrip("0")) > 19:
        return False
    return rules.INT64_MIN <= int(integer_text) <= rules.INT64_MAX


def _bom_hint(value: str) -> str:
    if value.startswith("\ufeff"):
        return (" (U+FEFF is a byte order mark: one is skipped at the very start of the file only; "
                "were two files joined?)")
    return ""


def _tab_hint(fields: list[str]) -> str:
    if any("\t" in value for value in fields):
        return (" (the line holds tabs: Criteo's raw train.txt is tab-separated, eval.csv is "
                "comma-separated)")
    return ""
