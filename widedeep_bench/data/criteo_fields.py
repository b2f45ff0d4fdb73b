"""What a valid line of a Criteo CSV file is (SPEC section 4), stated once for both readers.

The fast reader (``criteo_csv``) checks these rules on whole columns; the line-by-line checker
(``csv_diagnosis``) checks them on one line at a time to name the first bad line and field.
"""

from __future__ import annotations

from widedeep_bench import layout

LABELLED_FIELDS = len(layout.CSV_COLUMNS)  # 40: label, I1..I13, C1..C26
UNLABELLED_FIELDS = LABELLED_FIELDS - 1  # 39: Criteo's test file has no label

LABEL_VALUES = ("0", "1")
# A numeric field is empty (missing, read as 0) or a plain decimal integer: no sign '+', blanks, hex,
# fractions or exponents, all of which a lenient parser would accept and ByteMLPerf's would not.
INTEGER_PATTERN = r"-?[0-9]+"
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
# C0 controls (tab included) and DEL never occur in Criteo text; their presence means a binary file.
# A carriage return is allowed only as part of a "\r\n" line end.
CONTROL_PATTERN = r"[\x00-\x1f\x7f]"
# A UTF-8 byte order mark opening the file is skipped (pyarrow does, and so does ByteMLPerf's pandas);
# anywhere else U+FEFF is text. A UTF-16 mark means the whole file is in the wrong encoding.
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def column_names(field_count: int) -> tuple[str, ...]:
    """The CSV columns of a file whose lines have ``field_count`` fields (39: no label)."""
    return layout.CSV_COLUMNS[1:] if field_count == UNLABELLED_FIELDS else layout.CSV_COLUMNS


def field_name(names: tuple[str, ...], index: int) -> str:
    """``I5`` for a known column, ``#41`` (1-based position) beyond the known ones."""
    return names[index] if index < len(names) else f"#{index + 1}"


def preview(text: str, limit: int = 40) -> str:
    """``repr`` of ``text``, cut to ``limit`` characters so binary garbage stays readable."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


def first_line_field_count(data: bytes) -> int:
    """Comma-separated fields on the first line of ``data`` (its line end excluded)."""
    end = data.find(b"\n")
    first = data if end < 0 else data[:end]
    return first.count(b",") + 1
