"""Text from the user's data made safe to show: on the terminal and in the report.

Labels, task and model names, texts, paths, warnings and error messages all come from files the
user (or someone else) wrote. Printed raw, a control character runs in the user's terminal (an
ANSI escape recolours or clears it, a carriage return overwrites the line, a bell rings), a
bidirectional override reorders what is read, and rich markup in a label (``[/]``,
``[bold]x``) either crashes rich or restyles the line. So every such string goes through
:func:`printable` (the report) or :func:`markup` (rich). Invisible characters are shown as the
escape a Python string would use (``\\x1b``, ``\\u200b``): two labels that differ only by one
stay told apart, and the user can find the character in the file.

A leaf module: only the standard library here, and rich only inside :func:`markup`.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories that draw nothing of their own: controls (Cc), format characters (Cf:
#: zero-width and bidirectional marks), lone surrogates (Cs, which no terminal can encode) and the
#: line and paragraph separators (Zl, Zp)
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: format characters that are part of ordinary writing: joiners (Persian, Indic scripts, emoji
#: sequences) stay as they are
_WRITING = frozenset({"\u200c", "\u200d"})


#: what ``keep_newlines`` keeps: the newline and Unicode's line and paragraph separators
_LINE_BREAKS = frozenset({"\n", "\u2028", "\u2029"})
_SHORT = {"\n": "\\n", "\r": "\\r"}


def _visible(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _hidden(ch: str) -> bool:
    if ch in _WRITING or "\U000e0020" <= ch <= "\U000e007f":  # emoji tag sequences (flags)
        return False
    return unicodedata.category(ch) in _HIDDEN


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` with every control, zero-width, bidirectional-override and lone-surrogate
    character shown as its escape (``\\x1b``), so nothing in it acts on a terminal or a page.

    Tabs become a space. A newline is shown as ``\\n`` unless ``keep_newlines`` (a report's
    rendered Markdown or HTML, a multi-line error), so a one-line message stays one line.
    """
    s = str(text)
    if s.isprintable():  # the usual case: nothing to look at character by character
        return s
    out: list[str] = []
    for ch in s:
        if keep_newlines and ch in _LINE_BREAKS:
            out.append(ch)
        elif ch == "\t":
            out.append(" ")
        elif _hidden(ch):
            out.append(_visible(ch))
        else:
            out.append(ch)
    return "".join(out)


def markup(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` as rich markup that prints exactly as :func:`printable` shows it: brackets that
    look like tags are escaped, so ``[/]`` in a label is printed, not parsed."""
    from rich.markup import escape

    return escape(printable(text, keep_newlines=keep_newlines))


__all__ = ["markup", "printable"]
