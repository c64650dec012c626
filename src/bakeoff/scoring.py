"""The scoring engine for prompted causal LMs: label log-likelihoods and greedy generation.

Log-likelihood scoring (``loglik``) sums the log-probabilities of each label's answer tokens after
the prompt. The engine makes this cheap in three ways:

- **Fast path.** When every answer is a single token, one forward pass per prompt suffices and
  only the last position's logits are computed (``logits_to_keep=1``); with a large vocabulary
  that skips most of the output layer's cost.
- **Continuations from the KV cache.** Multi-token answers are scored by encoding the prompt
  once and continuing every answer from its cache, all labels of a batch in one extra pass.
- **Prefix caching.** The part every prompt shares (instruction and few-shot examples) is
  encoded once; each batch reuses its keys and values, so few-shot costs about as much as
  zero-shot.

Batches are built from prompts sorted by length (longest first, so an out-of-memory error shows
at once), with left padding. A shorter row is aligned by moving the tail of the shared prefix
into its input rather than padding in the middle, so padding only ever sits at the start of a
row, where an explicit attention mask and explicit position ids make it invisible (also to
sliding-window attention, which counts cache slots). Results therefore do not depend on the
batch size beyond float noise.

In bf16 the output layer's logits are themselves rounded to bf16 (steps of 0.0625-0.125 at
typical logit sizes), which turns close calls into exact ties that ``argmax`` then breaks towards
the first label. The answer tokens' logits are therefore recomputed in fp32 from the same hidden
state (:meth:`CausalLMEngine.exact_answer_logits`); the rest of the vocabulary, which only feeds
the softmax normaliser, stays in the model's precision.

Token sequences are always the tokenizer's own tokenisation of the full text: the seams between
prefix and query and between prompt and answer are checked, never assumed (see
:func:`build_requests` and :func:`shared_prefix_tokens`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from bakeoff.classifier import Advance
from bakeoff.errors import BakeoffError

T = TypeVar("T")
R = TypeVar("R")


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """Number of leading tokens two sequences share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True)
class Request:
    """One prompt to score: its context tokens and, per label, the tokens to score after it.

    ``context + continuations[l]`` is exactly the tokenisation of ``prompt + delimiter +
    answer[l]``; where the tokenizer merges across the prompt/answer seam, the merged tail of the
    prompt moves into every continuation, so all labels share one context.
    """

    context: tuple[int, ...]
    continuations: tuple[tuple[int, ...], ...]

    @property
    def longest_continuation(self) -> int:
        return max(len(c) for c in self.continuations)


def _encode(tokenizer: Any, texts: Sequence[str], add_special_tokens: bool) -> list[list[int]]:
    return tokenizer(list(texts), add_special_tokens=add_special_tokens)["input_ids"]


def build_requests(
    tokenizer: Any,
    prompts: Sequence[str],
    delimiter: str,
    answers: Sequence[str],
    add_special_tokens: bool,
    max_length: int,
) -> tuple[list[Request], int]:
    """Tokenise prompts and prompt+answer texts together and split them at a checked seam.

    Returns the requests and how many contexts were cut from the left to fit ``max_length``.
    """
    n_labels = len(answers)
    texts: list[str] = []
    for prompt in prompts:
        texts.append(prompt)
        texts.extend(prompt + delimiter + answer for answer in answers)
    encoded = _encode(tokenizer, texts, add_special_tokens)
    requests, truncated = [], 0
    for i in range(len(prompts)):
        ctx, *full = encoded[i * (n_labels + 1) : (i + 1) * (n_labels + 1)]
        cut = min(common_prefix_len(ctx, f) for f in full)
        continuations = tuple(tuple(f[cut:]) for f in full)
        if any(not c for c in continuations):
            raise BakeoffError(
                f"an answer word tokenises to nothing after the prompt ({answers!r}); "
                "use non-empty verbalizers"
            )
        context = tuple(ctx[:cut])
        room = max_length - max(len(c) for c in continuations)
        if len(context) > room:
            context = context[len(context) - max(room, 1) :]
            truncated += 1
        requests.append(Request(context, continuations))
    return requests, truncated


def prompt_tokens(
    tokenizer: Any, prompts: Sequence[str], add_special_tokens: bool, max_length: int
) -> tuple[list[tuple[int, ...]], int]:
    """Token ids of whole prompts (for generation), cut from the left to ``max_length``."""
    out, truncated = [], 0
    for ids in _encode(tokenizer, prompts, add_special_tokens):
        if len(ids) > max_length:
            ids = ids[len(ids) - max_length :]
            truncated += 1
        out.append(tuple(ids))
    return out, truncated


def shared_prefix_tokens(
    tokenizer: Any, prefix: str, probes: Sequence[str], add_special_tokens: bool
) -> tuple[int, ...]:
    """Tokens of ``prefix`` that stay the same whatever follows it.

    A tokenizer may merge the end of the prefix with the start of a query, so the prefix's own
    tokenisation is cut back to where it agrees with the tokenisation of ``prefix + probe`` for
    every probe. Each request is still checked against these tokens before the cache is used.
    """
    if not prefix:
        return ()
    alone, *with_probe = _encode(
        tokenizer, [prefix, *(prefix + p for p in probes)], add_special_tokens
    )
    keep = min((common_prefix_len(alone, ids) for ids in with_probe), default=len(alone))
    return tuple(alone[:keep])


@dataclass
class EncodedPrefix:
    """A shared prefix's tokens with its keys and values per layer (batch 1)."""

    tokens: tuple[int, ...]
    keys: list[Any]
    values: list[Any]

    def covers(self, context: Sequence[int]) -> bool:
        """Whether a context starts with this prefix and has at least one token after it."""
        n = len(self.tokens)
        return len(context) > n and tuple(context[:n]) == self.tokens


@dataclass
class _Layout:
    """One batch as model inputs: the uncached part of every row, plus the cache if any."""

    input_ids: Any
    attention_mask: Any
    position_ids: Any
    #: the full rows (cached part included), as ``generate`` wants them
    full_ids: Any
    cache: Any
    #: real tokens per row (prefix included)
    lengths: Any


class CausalLMEngine:
    """Batched scoring and generation with a causal LM; see the module docstring."""

    def __init__(self, model: Any, pad_token_id: int, device: str) -> None:
        self.model = model
        self.pad_token_id = pad_token_id
        self.device = device
        params = inspect.signature(model.forward).parameters
        # transformers renamed `past_key_values` to `cache`; support both spellings
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        #: the batch size the last call ended with (smaller than asked after an OOM back-off)
        self.last_batch_size = 0

    # -- cache plumbing -------------------------------------------------------------------------

    @staticmethod
    def _new_cache() -> Any:
        """A cache of full (non-sliding) layers: keeps every position, so prefix slices and
        masks use absolute positions even for sliding-window models."""
        from transformers import DynamicCache

        return DynamicCache()

    def encode_prefix(self, tokens: Sequence[int]) -> EncodedPrefix | None:
        """Run the shared prefix once and keep its keys and values."""
        import torch

        if not tokens:
            return None
        cache = self._new_cache()
        ids = torch.tensor([list(tokens)], device=self.device)
        with torch.inference_mode():
            self.model(input_ids=ids, use_cache=True, logits_to_keep=1, **{self._cache_arg: cache})
        return EncodedPrefix(
            tuple(tokens),
            [layer.keys for layer in cache.layers],
            [layer.values for layer in cache.layers],
        )

    def _batch_cache(self, prefix: EncodedPrefix, pads: Any) -> Any:
        """Per-row copy of the prefix cache, shifted right by each row's padding.

        Row ``i`` holds ``pads[i]`` padding slots, then the first ``p - pads[i]`` prefix
        positions; the rest of its prefix is recomputed in the input. Padding slots hold copies
        of real keys (never attended: the attention mask excludes them).
        """
        import torch

        p = len(prefix.tokens)
        index = (torch.arange(p, device=self.device)[None, :] - pads[:, None]).clamp(min=0)
        cache = self._new_cache()
        for layer, (k, v) in enumerate(zip(prefix.keys, prefix.values)):
            cache.update(
                k[0][:, index].permute(1, 0, 2, 3).contiguous(),
                v[0][:, index].permute(1, 0, 2, 3).contiguous(),
                layer,
            )
        return cache

    def _layout(self, contexts: Sequence[Sequence[int]], prefix: EncodedPrefix | None) -> _Layout:
        """Row ``i`` is ``[pad] * d_i + prefix + rest_i``, all rows of one length ``p + m``;
        the first ``p`` slots come from the prefix cache, the remaining ``m`` are the input."""
        import torch

        p = len(prefix.tokens) if prefix else 0
        rests = [list(c[p:]) for c in contexts]
        m = max(len(r) for r in rests)
        pads = torch.tensor([m - len(r) for r in rests], device=self.device)
        ids = torch.full((len(rests), p + m), self.pad_token_id, dtype=torch.long)
        head = list(prefix.tokens) if prefix else []
        for i, rest in enumerate(rests):
            row = head + rest
            ids[i, p + m - len(row) :] = torch.tensor(row, dtype=torch.long)
        ids = ids.to(self.device)
        slots = torch.arange(p + m, device=self.device)[None, :]
        mask = (slots >= pads[:, None]).long()
        positions = (slots - pads[:, None]).clamp(min=0)
        return _Layout(
            input_ids=ids[:, p:],
            attention_mask=mask,
            position_ids=positions[:, p:],
            full_ids=ids,
            cache=self._batch_cache(prefix, pads) if prefix else None,
            lengths=(p + m) - pads,
        )

    # -- log-likelihood -------------------------------------------------------------------------

    def _loglik_batch(
        self, batch: Sequence[Request], prefix: EncodedPrefix | None
    ) -> list[list[float]]:
        import torch

        layout = self._layout([r.context for r in batch], prefix)
        multi = any(r.longest_continuation > 1 for r in batch)
        cache = layout.cache if layout.cache is not None else (self._new_cache() if multi else None)
        out = self.model(
            input_ids=layout.input_ids,
            attention_mask=layout.attention_mask,
            position_ids=layout.position_ids,
            use_cache=multi,
            logits_to_keep=1,
            **{self._cache_arg: cache},
        )
        logits = out.logits[:, -1].float()
        first = torch.tensor([[c[0] for c in r.continuations] for r in batch], device=self.device)
        # log-softmax at the answer tokens only (a full one writes batch x vocabulary floats)
        total = logits.gather(1, first) - torch.logsumexp(logits, dim=-1, keepdim=True)
        if multi:
            total = total + self._continue(batch, layout, cache)
        return total.tolist()

    def _continue(self, batch: Sequence[Request], layout: _Layout, cache: Any) -> Any:
        """Log-probabilities of every answer token after the first, all labels in one pass
        from the prompt's cache (repeated once per label)."""
        import torch

        n_labels = len(batch[0].continuations)
        width = max(r.longest_continuation for r in batch) - 1
        rows = len(batch) * n_labels
        inputs = torch.full((rows, width), self.pad_token_id, dtype=torch.long)
        targets = torch.zeros((rows, width), dtype=torch.long)
        valid = torch.zeros((rows, width), dtype=torch.long)
        for i, request in enumerate(batch):
            for label, cont in enumerate(request.continuations):
                row, n = i * n_labels + label, len(cont) - 1
                inputs[row, :n] = torch.tensor(cont[:-1])
                targets[row, :n] = torch.tensor(cont[1:])
                valid[row, :n] = 1
        inputs, targets, valid = (t.to(self.device) for t in (inputs, targets, valid))
        cache.batch_repeat_interleave(n_labels)
        mask = torch.cat([layout.attention_mask.repeat_interleave(n_labels, 0), valid], dim=1)
        start = layout.lengths.repeat_interleave(n_labels)[:, None]
        positions = start + torch.arange(width, device=self.device)[None, :]
        out = self.model(
            input_ids=inputs,
            attention_mask=mask,
            position_ids=positions,
            use_cache=False,
            **{self._cache_arg: cache},
        )
        logprobs = torch.log_softmax(out.logits.float(), dim=-1)
        picked = logprobs.gather(2, targets[..., None]).squeeze(-1) * valid
        return picked.sum(dim=1).view(len(batch), n_labels)

    def loglik(
        self,
        requests: Sequence[Request],
        prefix: EncodedPrefix | None,
        batch_size: int,
        advance: Advance | None = None,
        backoff: bool = False,
    ) -> list[list[float]]:
        """Summed answer log-likelihood per request and label, in request order."""
        answer_ids = sorted({t for r in requests for c in r.continuations for t in c})
        with self.exact_answer_logits(answer_ids):
            return self._grouped(
                requests,
                prefix,
                lambda r: r.context,
                lambda r: r.longest_continuation,
                self._loglik_batch,
                batch_size,
                advance,
                backoff,
            )

    @contextmanager
    def exact_answer_logits(self, token_ids: Sequence[int]) -> Iterator[None]:
        """While active, the output layer returns fp32 logits, with the columns of
        ``token_ids`` recomputed in fp32 from the hidden state (see the module docstring).
        A no-op for a model whose output layer already computes in fp32."""
        import torch

        head = self.model.get_output_embeddings()
        weight = getattr(head, "weight", None)
        if weight is None or weight.dtype == torch.float32 or not token_ids:
            yield
            return
        ids = torch.tensor(list(token_ids), device=weight.device)
        rows = weight.detach()[ids].float()
        bias = getattr(head, "bias", None)
        bias = bias.detach()[ids].float() if bias is not None else None

        def hook(module: Any, args: tuple[Any, ...], output: Any) -> Any:
            out = output.float()
            out[..., ids] = torch.nn.functional.linear(args[0].float(), rows, bias)
            return out

        handle = head.register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    # -- generation -----------------------------------------------------------------------------

    def _generate_batch(
        self, contexts: Sequence[tuple[int, ...]], prefix: EncodedPrefix | None, max_new_tokens: int
    ) -> list[list[int]]:
        layout = self._layout(contexts, prefix)
        cache = layout.cache if layout.cache is not None else self._new_cache()
        out = self.model.generate(
            input_ids=layout.full_ids,
            attention_mask=layout.attention_mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=self.pad_token_id,
            **{self._cache_arg: cache},
        )
        start = layout.full_ids.shape[1]
        return [row[start:].tolist() for row in out]

    def generate(
        self,
        contexts: Sequence[tuple[int, ...]],
        prefix: EncodedPrefix | None,
        max_new_tokens: int,
        batch_size: int,
        advance: Advance | None = None,
        backoff: bool = False,
    ) -> list[list[int]]:
        """Greedy continuation tokens per context (up to ``max_new_tokens``), in order."""
        return self._grouped(
            contexts,
            prefix,
            lambda c: c,
            lambda c: 0,
            lambda batch, pre: self._generate_batch(batch, pre, max_new_tokens),
            batch_size,
            advance,
            backoff,
        )

    # -- batching -------------------------------------------------------------------------------

    def _grouped(
        self,
        items: Sequence[T],
        prefix: EncodedPrefix | None,
        context_of: Callable[[T], Sequence[int]],
        extra_len: Callable[[T], int],
        run: Callable[[Sequence[T], EncodedPrefix | None], list[R]],
        batch_size: int,
        advance: Advance | None,
        backoff: bool,
    ) -> list[R]:
        """Items whose context starts with the prefix use its cache; the others (a seam the
        tokenizer merged, or a context cut to fit) run without it. Results are in item order."""
        results: list[R | None] = [None] * len(items)
        with_prefix = [i for i, it in enumerate(items) if prefix and prefix.covers(context_of(it))]
        taken = set(with_prefix)
        without = [i for i in range(len(items)) if i not in taken]
        for indices, pre in ((with_prefix, prefix), (without, None)):
            if not indices:
                continue
            skip = len(pre.tokens) if pre else 0

            def length(it: T, skip: int = skip) -> int:
                return len(context_of(it)) - skip + extra_len(it)

            def run_batch(batch: Sequence[T], pre: EncodedPrefix | None = pre) -> list[R]:
                return run(batch, pre)

            outs = self._batched(
                [items[i] for i in indices],
                length,
                run_batch,
                batch_size,
                advance,
                backoff,
            )
            for i, out in zip(indices, outs):
                results[i] = out
        return results  # type: ignore[return-value]

    def _batched(
        self,
        items: Sequence[T],
        length: Callable[[T], int],
        run: Callable[[Sequence[T]], list[R]],
        batch_size: int,
        advance: Advance | None,
        backoff: bool,
    ) -> list[R]:
        """Longest first, consecutive items of similar length per batch. On a GPU
        out-of-memory error with ``backoff``, halve the batch size and retry the batch."""
        import torch

        order = sorted(range(len(items)), key=lambda i: -length(items[i]))
        results: list[R | None] = [None] * len(items)
        pos, size = 0, max(1, batch_size)
        with torch.inference_mode():
            while pos < len(order):
                chunk = order[pos : pos + size]
                try:
                    outs = run([items[i] for i in chunk])
                except torch.OutOfMemoryError:
                    if not backoff or size == 1:
                        raise BakeoffError(
                            f"out of device memory at batch size {size}; set a smaller "
                            "batch_size (or 'auto'), or a smaller max_length"
                        ) from None
                    self._free_memory()
                    size //= 2
                    continue
                for i, out in zip(chunk, outs):
                    results[i] = out
                pos += len(chunk)
                if advance:
                    advance(len(chunk))
        self.last_batch_size = size
        return results  # type: ignore[return-value]

    def _free_memory(self) -> None:
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
