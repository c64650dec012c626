"""The label canon: which raw values in a user's data are the same label, and which are missing.

CSV holds only strings, JSON Lines keeps numbers, booleans and strings apart, Parquet has typed
columns, and a spreadsheet or pandas round trip rewrites ``1`` as ``1.0``, pads with spaces or
writes ``N/A`` for a gap. Without one rule, the same class would split into two classes (``1``
and ``+1``) or a gap would become a class (``NULL``) depending on the format. The rule, applied
to every format alike:

* **text** is put in Unicode NFKC form (full-width ``１`` is ``1``, a no-break space is a space),
  stripped of surrounding whitespace and invisible format characters (a zero-width space, a BOM)
  and its inner runs of whitespace are one space;
* **missing**: nothing, JSON ``null``, a float NaN, or a text that pandas' ``read_csv`` reads as
  missing by default (``NaN``, ``NULL``, ``N/A``, ``NA``, ``<NA>``, ``#N/A``, ``None``, ..., any
  case). Such a row is refused with its place, never dropped or made a class. A class that is
  really called ``None`` is kept when it is listed in the task's ``labels``;
* **numbers**: a number, or a text that is a decimal number (``+1``, ``01``, ``1.0``, ``1e0``),
  is written as its plain decimal: ``1``, ``1.0``, ``1e0``, ``"1"`` and ``+1`` are the label
  ``1``, ``-0`` is ``0``, ``0.50`` is ``0.5``;
* **booleans**: JSON/Parquet ``true``/``false`` and the texts ``true``/``false`` (any case) are
  ``true``/``false``; a column mixing booleans with other labels is refused, since whether ``true``
  means ``1`` cannot be known.

When the canon makes one label of two or more spellings, :meth:`LabelCanon.note` says so in one
line, and :attr:`LabelCanon.spellings` keeps the mapping for ``bakeoff prompt``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Collection
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bakeoff.data import json_kind
from bakeoff.errors import BakeoffError

#: texts that mean "no value", compared case-insensitively after cleaning: pandas' default
#: ``na_values`` for ``read_csv`` (so a file read by pandas and by bakeoff agrees) plus ``+nan``
MISSING_TEXTS = frozenset(
    {
        "", "#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "-nan", "+nan", "1.#ind",
        "1.#qnan", "<na>", "n/a", "na", "nan", "null", "none",
    }
)  # fmt: skip
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: numbers whose decimal exponent is beyond this stay as written: writing out 1e999999 in full
#: would take memory for nothing (no real label is such a number)
_MAX_EXPONENT = 100
#: Unicode categories removed at a text's ends besides whitespace: controls and format characters
#: (zero-width space, zero-width joiner, BOM, bidi marks), which no one types on purpose there
_INVISIBLE = frozenset({"Cc", "Cf"})


def clean_text(text: str) -> str:
    """NFKC form, invisible characters and whitespace off both ends, inner whitespace one space."""
    text = unicodedata.normalize("NFKC", text)
    start, end = 0, len(text)
    while start < end and _blank(text[start]):
        start += 1
    while end > start and _blank(text[end - 1]):
        end -= 1
    return " ".join(text[start:end].split())


def _blank(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in _INVISIBLE


def _plain_number(value: Decimal) -> str | None:
    """A finite decimal as its shortest plain spelling ('1', '0.5', '-3'); None when huge."""
    if not value.is_finite() or abs(value.adjusted()) > _MAX_EXPONENT:
        return None
    if value == 0:
        return "0"
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _scalar(value: Any) -> Any:
    """A numpy or pandas scalar (Parquet, hub datasets) as the Python value it holds."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (ValueError, TypeError):
            return value
    return value


def _is_na(value: Any) -> bool:
    """pandas' NA and NaT (nullable Parquet columns), without importing pandas for it."""
    return type(value).__name__ in ("NAType", "NaTType")


def canon(value: Any, real: Collection[str] = ()) -> str | None:
    """The label a raw value is, or None when it is missing (see the module's rule).

    ``real`` lists missing-looking texts that are classes here (the task's own ``labels``).
    Raises TypeError for a value that cannot be a label (a list, an object).
    """
    value = _scalar(value)
    if value is None or _is_na(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return None
        if value in (float("inf"), float("-inf")):
            return str(value)
        return _plain_number(Decimal(repr(value))) or repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise TypeError("bytes") from None
    if not isinstance(value, str):
        raise TypeError(type(value).__name__)
    text = clean_text(value)
    if text.lower() in MISSING_TEXTS and text not in real:
        return None
    if text.lower() in ("true", "false"):
        return text.lower()
    if _DECIMAL.fullmatch(text):
        try:
            number = _plain_number(Decimal(text))
        except InvalidOperation:
            number = None
        return number or text
    return text


def spelling(value: Any) -> str:
    """How a raw value is shown in notes: texts quoted, numbers and booleans as JSON writes them
    (so the JSON number 1 and the text "1" are told apart)."""
    value = _scalar(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _kind(label: str) -> str:
    """A label's kind, read from its canonical form: JSON ``true`` and the text ``"TRUE"`` are both
    booleans, so a CSV's ``True`` next to ``1`` is refused like JSON's."""
    return "boolean" if label in ("true", "false") else "other"


class LabelCanon:
    """Applies :func:`canon` to one task's label column across its files, refusing missing
    labels and mixed boolean columns, and remembering which spellings became which label."""

    def __init__(self, column: str, real: Collection[str] = ()) -> None:
        self.column = column
        self.real = frozenset(real)
        #: label -> raw spelling -> rows
        self.spellings: dict[str, Counter[str]] = {}
        #: per kind ("boolean", "other"): the first row of that kind, as (where, place, value)
        self._first: dict[str, tuple[Path | str, str, Any]] = {}
        self._cache: dict[tuple[type, Any], str | None] = {}

    def label(self, value: Any, where: Path | str, at: str) -> str:
        """A row's label, or a one-line error naming the row and the fix."""
        try:
            key = (type(value), value)
            label = self._cache[key] if key in self._cache else self._canon(value)
            self._cache[key] = label
        except TypeError:  # unhashable (a list) or not a label
            try:
                label = self._canon(value)
            except TypeError:
                raise BakeoffError(
                    f"{where}: {at} has a '{self.column}' that is {json_kind(value)}; a label "
                    "must be a string or a number"
                ) from None
        if label is None:
            shown = "" if value is None else clean_text(str(_scalar(value)))
            extra = (
                f" ({shown!r} is read as missing; a class really named so can be listed in the "
                "task's labels)"
                if shown.lower() in MISSING_TEXTS - {"", "nan"}
                else ""
            )
            raise BakeoffError(
                f"{where}: {at} has no '{self.column}' value{f' ({shown!r})' if shown else ''}; "
                f"fill in its label or remove that row{extra}"
            )
        self._check_kind(value, label, where, at)
        self.spellings.setdefault(label, Counter())[spelling(value)] += 1
        return label

    def _canon(self, value: Any) -> str | None:
        return canon(value, self.real)

    def _check_kind(self, value: Any, label: str, where: Path | str, at: str) -> None:
        kind = _kind(label)
        self._first.setdefault(kind, (where, at, value))
        if len(self._first) > 1:
            bwhere, bat, bvalue = self._first["boolean"]
            owhere, oat, ovalue = self._first["other"]
            other = f"{oat} of {owhere}" if owhere != bwhere else oat
            raise BakeoffError(
                f"{bwhere}: the '{self.column}' column mixes booleans ({bat} is "
                f"{spelling(bvalue)}) with other labels ({other} is {spelling(ovalue)}); use "
                "one kind: all true/false, or all strings or numbers"
            )

    def merged(self) -> dict[str, Counter[str]]:
        """The labels that more than one spelling became, with each spelling's rows."""
        return {label: c for label, c in self.spellings.items() if len(c) > 1}

    def note(self, task: str) -> str | None:
        """One line when spellings were merged: how many, and the largest merge as an example."""
        merged = self.merged()
        if not merged:
            return None
        label, counts = max(merged.items(), key=lambda kv: (sum(kv[1].values()), kv[0]))
        shown = ", ".join(f"{s} ({n})" for s, n in counts.most_common(4))
        more = f" and {len(counts) - 4} more" if len(counts) > 4 else ""
        spellings = sum(len(c) for c in merged.values())
        rows = sum(sum(c.values()) for c in merged.values())
        return (
            f"task '{task}': {spellings} spellings of {len(merged)} label(s) in "
            f"{self.column!r} were merged ({rows} rows), e.g. {shown}{more} are all the label "
            f"{label!r} (the label canon in the README; `bakeoff prompt` shows every mapping)"
        )
