"""Cutting over-long texts to a character bound before they reach a tokenizer.

Why: a tokenizer turns the *whole* string into tokens (with offsets and alignments) before it
truncates to ``max_length``, so one 40 MB line in a ``bakeoff predict`` input took 11.6 GB and
111 s, only for all but the first few hundred tokens to be thrown away. Every classifier
therefore cuts each text to ``max_tokens * CHARS_PER_TOKEN`` characters first, on the side the
model's own truncation keeps.

The bound is generous: a token covers 3 to 5 characters of ordinary text, and the longest
tokens in the shipped vocabularies (whitespace runs, long subwords) stay well under 64. A text
within the bound is passed on unchanged, so predictions on texts of normal length are exactly
as before; a longer one already loses everything past ``max_tokens`` tokens, and the cut keeps
far more than that. What could still tokenise differently after the cut: a text made almost
entirely of what the tokenizer drops (megabytes of whitespace or control characters), and a
pair whose two texts are both over the bound but whose longer one in characters is the shorter
one in tokens (one token moves from one side to the other).
"""

from __future__ import annotations

from bakeoff.data import Example

#: characters kept per token of the model's length (see the module docstring)
CHARS_PER_TOKEN = 64


def char_limit(max_tokens: int) -> int:
    """The most characters worth tokenising for a model that reads ``max_tokens`` tokens."""
    return max(1, int(max_tokens)) * CHARS_PER_TOKEN


def cut_text(text: str, max_tokens: int, *, keep_end: bool = False) -> str:
    """``text`` cut to :func:`char_limit` characters: its start, or its end for models that
    truncate from the left (prompts cut from the left keep the text's end)."""
    limit = char_limit(max_tokens)
    if len(text) <= limit:
        return text
    return text[-limit:] if keep_end else text[:limit]


def cut_example(example: Example, max_tokens: int, *, keep_end: bool = False) -> Example:
    """``example`` with both texts cut (the same object when neither needs it).

    When both texts of a pair are over the bound, the longer one keeps twice as much: a
    tokenizer truncating a pair "longest first" gives the longer side the odd token, so the
    side that was longer must stay the longer one after the cut.
    """
    text, pair = example.text, example.text_pair
    limit = char_limit(max_tokens)
    if pair is not None and len(text) > limit and len(pair) > limit:
        longer_text = len(text) >= len(pair)
        text = cut_text(text, max_tokens * (2 if longer_text else 1), keep_end=keep_end)
        pair = cut_text(pair, max_tokens * (1 if longer_text else 2), keep_end=keep_end)
    else:
        text = cut_text(text, max_tokens, keep_end=keep_end)
        if pair is not None:
            pair = cut_text(pair, max_tokens, keep_end=keep_end)
    if text is example.text and pair is example.text_pair:
        return example
    return Example(text, example.label, pair)
