"""Several sequences decoded together in one llama.cpp context: one llama_decode per step for all.

A small model on a few CPU cores spends most of a one-sequence step waiting on memory and on its
threads meeting at every operation; with several sequences in one batch, each step reads the
weights once for all of them and gives each thread more work between meetings.

Each request is planned by llama-cpp-python's own chat path (`plan_chat`: the chat template, the
stop strings, the grammar of a JSON schema, the sampling arguments), and sampled with the very
sampler chain `create_chat_completion` would build, seeded with the request's seed: a request
stops, and is counted, as it would be alone. The KV cache keeps one stream per sequence, so a
sequence's cache is laid out as in a context of its own (`n_ctx` tokens each).

A request's text depends on its prompt, seed and sampling only, not on what it was batched with
nor on what its slot held before: each prompt is decoded on its own (see `_prefill`), and each
step decodes one generated token per sequence, as one stream does. A resumed shard therefore
gets the texts of an uninterrupted one, and (in tests) those of the one-stream path.

With `reuse_prefix`, a sequence slot keeps the cache of its last prompt and decodes only the part
of the next prompt that differs from it: prompts of one template share their opening.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from .backend import Completion, Request, RequestFeed, refused


class _Planned(Exception):
    """Raised by `_Recorder.create_completion`: the chat handler has said what it would run."""


class _Recorder:
    """Stands for a Llama in its own chat path: records the completion asked for instead of running it."""

    def __init__(self, llm):
        self._llm = llm
        self.arguments: dict | None = None

    def __getattr__(self, name):
        return getattr(self._llm, name)

    def create_completion(self, **arguments):
        self.arguments = arguments
        raise _Planned


def plan_chat(llm, arguments: dict) -> dict:
    """The `create_completion` arguments that `llm.create_chat_completion(**arguments)` would use.

    Returns them as the chat handler passes them: `prompt` as token ids, `stop`, `grammar` (for a
    `response_format` schema), `seed`, `max_tokens` and the sampling parameters. Nothing is decoded.
    """
    from llama_cpp import Llama

    recorder = _Recorder(llm)
    try:
        # Called with the recorder as `self`: the handler lookup and the handler itself run unchanged.
        Llama.create_chat_completion(recorder, **arguments)
    except _Planned:
        return recorder.arguments
    raise RuntimeError("llama.cpp chat handler finished without asking for a completion")


# create_completion arguments that become the sampler chain (name in the chain builder).
_CHAIN_ARGUMENTS = {"top_k": "top_k", "top_p": "top_p", "min_p": "min_p", "typical_p": "typical_p",
                    "temperature": "temp", "repeat_penalty": "repeat_penalty",
                    "frequency_penalty": "frequency_penalty", "presence_penalty": "presence_penalty",
                    "tfs_z": "tfs_z", "mirostat_mode": "mirostat_mode", "mirostat_tau": "mirostat_tau",
                    "mirostat_eta": "mirostat_eta", "grammar": "grammar"}


def make_sampler(llm, plan: dict):
    """The sampler chain of one planned request, seeded with its seed, as `Llama.generate` builds it."""
    for unsupported in ("logits_processor", "logit_bias"):
        if plan.get(unsupported) is not None:
            raise ValueError(f"batched llama.cpp decoding does not support {unsupported}")
    llm.set_seed(plan["seed"])
    # Llama's own builder (penalties, grammar, top-k, typical, top-p, min-p, temperature, dist):
    # the same chain as one stream, whatever llama-cpp-python puts in it.
    return llm._init_sampler(**{name: plan[key] for key, name in _CHAIN_ARGUMENTS.items()})


def pending_utf8(text: bytes, pending: int) -> int:
    """Tokens still to come before `text` ends on a whole UTF-8 character, as create_completion counts them.

    `pending`: the count after the previous token. A lead byte among the last three bytes sets the
    count to the continuation bytes it still needs; stop strings and max_tokens are checked only
    once it is back to zero (create_completion's rule, kept so that a sequence stops where it would alone).
    """
    for index, byte in enumerate(text[-3:]):
        back = 3 - index
        for length, lead in ((2, 0xC0), (3, 0xE0), (4, 0xF0)):
            if length > back and byte & lead == lead:
                pending = length - back
    return pending


@dataclass
class _Slot:
    """One sequence of the batch: its cache, and the request it is answering."""

    seq: int
    cached: list[int] = field(default_factory=list)  # tokens in this sequence's KV cache, by position
    feed: list[int] = field(default_factory=list)  # the sampled token, decoded at the next step
    request: Request | None = None
    plan: dict | None = None
    sampler: object = None
    max_tokens: int = 0
    generated: list[int] = field(default_factory=list)
    text: bytes = b""
    utf8_pending: int = 0
    started: float = 0.0
    logits_at: int = -1  # index in the last batch of the token whose logits are sampled next

    @property
    def idle(self) -> bool:
        return self.request is None


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """The number of leading tokens `a` and `b` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class BatchedDecoder:
    """Decodes requests `n_seq` at a time in one context of the loaded model (a llama_cpp.Llama).

    `n_ctx`: tokens per sequence (prompt and completion), as the one-stream context has; `threads`:
    the context's threads; `n_batch`: tokens per llama_decode; `reuse_prefix`: keep the cached
    prompt prefix a slot's next request shares. `chat_arguments(request)`: the
    create_chat_completion arguments of a request (messages, sampling, seed, response_format);
    `decoding(plan)`: the decoding path recorded for it.
    """

    def __init__(self, llm, *, n_seq: int, n_ctx: int, threads: int, n_batch: int, reuse_prefix: bool,
                 chat_arguments, decoding):
        import llama_cpp
        from llama_cpp import _internals

        self.llm = llm
        self.n_seq = n_seq
        self.n_ctx = n_ctx
        self.n_batch = max(n_batch, n_seq, 2)  # room for one token of every sequence in each step
        self.reuse_prefix = reuse_prefix
        self.chat_arguments = chat_arguments
        self.decoding = decoding
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
        params.n_ctx = n_ctx * n_seq
        params.n_seq_max = n_seq
        params.kv_unified = False  # one cache stream per sequence: n_ctx tokens each, laid out as alone
        params.n_batch = params.n_ubatch = self.n_batch
        params.n_threads = params.n_threads_batch = threads
        self.ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        self.batch = _internals.LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=1, verbose=False)
        self.slots = [_Slot(seq) for seq in range(n_seq)]

    def answer(self, feed: RequestFeed) -> Iterator[Completion]:
        """Answer the requests of `feed`, taken as slots free up; yield each completion as soon as it is done."""
        self._drop_interrupted()
        while True:
            for slot in self.slots:
                while slot.idle:  # a slot whose request ended at once takes the next one
                    # Wait for a request only when nothing else is being decoded.
                    req = feed.take(wait=all(s.idle for s in self.slots))
                    if req is None:
                        break
                    done = self._start(slot, req)
                    if done is not None:
                        yield done
            active = [slot for slot in self.slots if not slot.idle]
            if not active:
                return
            self._decode([(slot, slot.feed, True) for slot in active])
            for slot in active:
                done = self._advance(slot)
                if done is not None:
                    yield done

    def _drop_interrupted(self) -> None:
        """Empty the slots an interrupted `generate` left busy: their caches may be half-written."""
        for slot in self.slots:
            if not slot.idle:
                slot.sampler.close()
                self.ctx.kv_cache_seq_rm(slot.seq, 0, -1)
                self.slots[slot.seq] = _Slot(slot.seq)

    def _start(self, slot: _Slot, req: Request) -> Completion | None:
        """Put `req` in `slot`, decode its prompt and sample its first token.

        Returns a completion when the request ends there: refused (a prompt longer than the
        context), or finished at its first token.
        """
        start = time.perf_counter()
        plan = plan_chat(self.llm, self.chat_arguments(req))
        prompt = list(plan["prompt"])
        if len(prompt) >= self.n_ctx:
            # create_completion's words, so that both modes record the same reason.
            return refused(req, f"Requested tokens ({len(prompt)}) exceed context window of {self.n_ctx}",
                           time.perf_counter() - start)
        # At least the last two prompt tokens are decoded again: see _prefill.
        keep = min(common_prefix(slot.cached, prompt), len(prompt) - 2) if self.reuse_prefix else 0
        keep = max(keep, 0)
        self.ctx.kv_cache_seq_rm(slot.seq, keep, -1)
        max_tokens = plan["max_tokens"]
        if max_tokens is None or max_tokens <= 0:
            max_tokens = self.n_ctx - len(prompt)
        slot.cached = prompt[:keep]
        slot.request, slot.plan, slot.sampler = req, plan, make_sampler(self.llm, plan)
        slot.max_tokens = min(max_tokens, self.n_ctx - len(prompt))
        slot.generated, slot.text, slot.utf8_pending, slot.started = [], b"", 0, start
        self._prefill(slot, prompt[keep:])
        return self._advance(slot)

    def _prefill(self, slot: _Slot, tokens: list[int]) -> None:
        """Decode the prompt `tokens` of one slot, alone, in chunks of two tokens or more.

        A token decoded as the only one of its sequence in a step takes llama.cpp's one-query
        attention, whose results differ slightly from those of a query among others: a lone
        prompt token would make the text depend on how prompts were cut and batched. Decoded
        alone and never one by one, a prompt leaves the same cache and logits however much of
        it was reused and whatever else is being decoded; generated tokens always go one per
        sequence, as in one stream.
        """
        while tokens:
            take = min(len(tokens), self.n_batch)
            if len(tokens) - take == 1:
                take -= 1  # leave two for the last chunk
            chunk, tokens = tokens[:take], tokens[take:]
            self._decode([(slot, chunk, not tokens)])

    def _decode(self, feeds: list[tuple[_Slot, list[int], bool]]) -> None:
        """One llama_decode of (slot, tokens, want logits of the last) for each feed; tokens join the slot's cache."""
        batch = self.batch.batch
        n = 0
        for slot, tokens, logits in feeds:
            for token in tokens:
                batch.token[n] = token
                batch.pos[n] = len(slot.cached)
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = slot.seq
                batch.logits[n] = False
                slot.cached.append(token)
                n += 1
            if logits:
                batch.logits[n - 1] = True
                slot.logits_at = n - 1
        batch.n_tokens = n
        self.ctx.decode(self.batch)

    def _advance(self, slot: _Slot) -> Completion | None:
        """Sample the slot's next token; return its completion when the request is done."""
        import llama_cpp

        token = slot.sampler.sample(self.ctx, slot.logits_at)
        criteria = slot.plan["stopping_criteria"]
        # Llama.generate asks the chat format's criteria about the tokens decoded so far (logits unused).
        if criteria is not None and criteria(slot.cached, None):
            return self._finish(slot, self.llm.detokenize(slot.generated), "stop")
        if llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token):
            return self._finish(slot, self.llm.detokenize(slot.generated), "stop")
        slot.generated.append(token)
        slot.text += self.llm.detokenize([token])
        slot.utf8_pending = pending_utf8(slot.text, slot.utf8_pending)
        if slot.utf8_pending > 0:
            slot.utf8_pending -= 1
        else:
            stops = [s.encode("utf-8") for s in slot.plan["stop"] or []]
            found = [s for s in stops if s in slot.text]
            if found:
                text = self.llm.detokenize(slot.generated)
                return self._finish(slot, text[: text.index(found[0])], "stop")
            if len(slot.generated) >= slot.max_tokens:
                return self._finish(slot, self.llm.detokenize(slot.generated), "length")
        if len(slot.cached) + 1 >= self.n_ctx:  # the sequence's cache is full (only past max_tokens)
            return self._finish(slot, self.llm.detokenize(slot.generated), "length")
        slot.feed = [token]
        return None

    def _finish(self, slot: _Slot, text: bytes, reason: str) -> Completion:
        """The completion of the slot's request; the slot is free again (its cache stays, for reuse)."""
        completion = Completion(
            key=slot.request.key,
            completion=text.decode("utf-8", errors="ignore"),
            prompt_tokens=len(slot.plan["prompt"]),
            completion_tokens=len(slot.generated),
            finish_reason=reason,
            seconds=time.perf_counter() - slot.started,
            decoding=self.decoding(slot.plan),
        )
        slot.sampler.close()
        slot.request, slot.plan, slot.sampler, slot.feed = None, None, None, []
        return completion

    def close(self) -> None:
        """Free the batch and the context (the model stays with its Llama)."""
        for slot in self.slots:
            if slot.sampler is not None:
                slot.sampler.close()
                slot.sampler = None
        self.batch.close()
        self.ctx.close()
