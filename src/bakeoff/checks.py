"""Sanity checks: one-line warnings stored with an experiment and shown beside it.

Each check looks for a way a run can produce a normal-looking number that means nothing: a model
that answers one label for everything, fine-tuning whose loss never fell, answer words that the
model cannot tell apart in one token, numbers used as answer words, inputs cut to fit. They never
stop a run; they make sure nobody acts on its number without seeing why it may be hollow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

#: predictions this concentrated on one label are suspicious...
ONE_LABEL_SHARE = 0.95
#: ...unless the gold labels are about as concentrated
GOLD_SHARE_MARGIN = 0.10
#: a final epoch loss above this share of the first means training did not learn
LOSS_FELL_RATIO = 0.9


def one_label(gold: Sequence[int], pred: Sequence[int], label_names: Sequence[str]) -> str | None:
    """Predictions nearly all one label when the gold labels are not."""
    if len(pred) < 10:
        return None
    label, count = Counter(pred).most_common(1)[0]
    share = count / len(pred)
    gold_share = Counter(gold).most_common(1)[0][1] / len(gold)
    if share >= ONE_LABEL_SHARE and share - gold_share > GOLD_SHARE_MARGIN:
        name = label_names[label] if 0 <= label < len(label_names) else "invalid"
        return (
            f"answered '{name}' for {share:.0%} of examples while the commonest gold label is "
            f"{gold_share:.0%}: it barely discriminates"
        )
    return None


def loss_did_not_fall(losses: Sequence[float]) -> str | None:
    """Fine-tuning whose last epoch's loss is not clearly below its first."""
    if len(losses) < 2:
        return None
    first, last = losses[0], losses[-1]
    if last > first * LOSS_FELL_RATIO:
        return (
            f"training loss did not fall ({first:.3f} in the first epoch, {last:.3f} in the last): "
            "raise the learning rate or the number of steps"
        )
    return None


def answer_words(verbalizers: Sequence[str], answer_tokens: Sequence[Sequence[str]]) -> list[str]:
    """Answer words that are numbers, split into several tokens, or share their first token."""
    found = []
    if all(v.strip().lstrip("-").replace(".", "", 1).isdigit() for v in verbalizers):
        found.append(
            f"answer words are numbers ({', '.join(verbalizers)}): the model sees no meaning in "
            "them; give the labels names (answer_words in the task YAML, or --verbalizers)"
        )
    multi = [f"'{v}' ({len(t)} tokens)" for v, t in zip(verbalizers, answer_tokens) if len(t) > 1]
    if multi:
        found.append(
            f"answer words split into several tokens: {', '.join(multi)}; longer answers score "
            "lower, which biases the choice: prefer one-token words"
        )
    firsts = Counter(t[0] for t in answer_tokens if t)
    shared = [tok for tok, n in firsts.items() if n > 1]
    if shared:
        found.append(
            f"answer words share their first token ({', '.join(repr(t) for t in shared)}): the "
            "model can tell them apart only after it; prefer words that differ at the start"
        )
    return found


def truncated(n: int, total: int, what: str, limit: int, setting: str) -> str | None:
    if n <= 0:
        return None
    return f"{n} of {total} {what} were cut to {limit} tokens to fit; raise {setting} to keep them whole"
