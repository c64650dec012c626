"""Sanity checks: one-line warnings stored with an experiment and shown beside it.

Each check looks for a way a run can produce a normal-looking number that means nothing: a model
that answers one label for everything, fine-tuning whose loss never fell, answer words that the
model cannot tell apart in one token, numbers used as answer words, inputs cut to fit. They never
stop a run; they make sure nobody acts on its number without seeing why it may be hollow.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

#: predictions this concentrated on one label are suspicious...
ONE_LABEL_SHARE = 0.95
#: ...unless the gold labels are about as concentrated
GOLD_SHARE_MARGIN = 0.10
#: a final epoch loss above this share of the first means training did not learn
LOSS_FELL_RATIO = 0.9
#: a final epoch loss above this share of the label entropy (the loss of guessing by the label
#: frequencies alone) means training learned little, however much it fell from the first epoch:
#: a model that learned the task removes most of that uncertainty on its own training rows
#: (SST-2 fine-tuning ends near 0.1 against 0.69); at three quarters it removed under a quarter
#: (9 classes, 2.06 -> 1.68 against 2.2 falls 18% and passes the ratio above, yet is still
#: close to guessing)
LOSS_ENTROPY_SHARE = 0.75


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


def label_entropy(counts: Sequence[int]) -> float:
    """Cross-entropy (nats) of always predicting the label frequencies: what a model that learned
    nothing from the texts scores."""
    total = sum(counts)
    return -sum(c / total * math.log(c / total) for c in counts if c) if total else 0.0


def loss_did_not_fall(
    losses: Sequence[float], train_labels: Sequence[int] | None = None
) -> str | None:
    """Fine-tuning whose last epoch's loss is not clearly below its first, or (given the
    training rows' labels) still close to what guessing by label frequency scores."""
    if len(losses) < 2:
        return None
    first, last = losses[0], losses[-1]
    if last > first * LOSS_FELL_RATIO:
        return (
            f"training loss did not fall ({first:.3f} in the first epoch, {last:.3f} in the last): "
            "raise the learning rate or the number of steps"
        )
    counts = list(Counter(train_labels).values()) if train_labels else []
    entropy = label_entropy(counts)
    if entropy > 0 and last > LOSS_ENTROPY_SHARE * entropy:
        classes = len(counts)
        return (
            f"training loss barely fell ({first:.3f} in the first epoch, {last:.3f} in the last, "
            f"against {entropy:.3f} for guessing by label frequency over {classes} classes): "
            "the model learned little; train on more examples per class, or raise the learning "
            "rate or the number of steps"
        )
    return None


def is_number(word: str) -> bool:
    """'0', '-1', '4.5': a label or answer word that carries no meaning for a language model."""
    return word.strip().lstrip("-").replace(".", "", 1).isdigit()


def numeric_answer_words(verbalizers: Sequence[str]) -> bool:
    """Every answer word is a number (labels 0/1 used as answers, no names given)."""
    return bool(verbalizers) and all(is_number(v) for v in verbalizers)


def shots_cover(shot_labels: Sequence[int], label_names: Sequence[str]) -> str | None:
    """Few-shot demonstrations that leave some classes without an example."""
    if not shot_labels:
        return None
    missing = [name for i, name in enumerate(label_names) if i not in set(shot_labels)]
    if not missing:
        return None
    shown = len(label_names) - len(missing)
    listed = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
    return (
        f"the {len(shot_labels)} demonstrations show {shown} of {len(label_names)} classes "
        f"(none of {listed}), so the model sees no example of those; raise -k (showing every "
        f"class takes at least {len(label_names)})"
    )


def answer_words(verbalizers: Sequence[str], answer_tokens: Sequence[Sequence[str]]) -> list[str]:
    """Answer words that are numbers, split into several tokens, or share their first token."""
    found = []
    if numeric_answer_words(verbalizers):
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
