"""Prompt shards -> generation shards, through a backend and a resumable request ledger.

Backends, behind one interface (`Backend.generate` yields completions as they
finish, in any order), each in its own module and chosen by `make_backend`:
- `llamacpp`: CPU, a GGUF model; one stream, several worker processes (`worker`), or
  several sequences decoded together in one context (`batched`).
- `openai`: any OpenAI-compatible server (vLLM serve, TGI, llama.cpp server),
  concurrent requests with retries and exponential backoff.
- `vllm`: offline batched generation on the job's GPUs.
`sampling` maps the config's sampling section to each backend's arguments. A request
may carry a JSON schema (labels do): each backend holds the answer to it its own way
(a grammar, guided decoding, a response format) and records which in the completion.

Every finished request goes to the ledger (`ledger`) as it arrives, so a killed
job resumes where it stopped; the shard outputs are written atomically at the
end, from the ledger (`shard`). `table` adds up the shards' accounting.
Importing this package loads no model library: each backend imports its own.
"""

from .backend import Backend, Completion, GenerationError, Request, make_backend
from .ledger import GenerationLedger, request_key
from .shard import generate_job, generate_shard, strip_stock_openers
from .table import generation_table, generation_table_job

__all__ = [
    "Backend",
    "Completion",
    "GenerationError",
    "GenerationLedger",
    "Request",
    "generate_job",
    "generate_shard",
    "generation_table",
    "generation_table_job",
    "make_backend",
    "request_key",
    "strip_stock_openers",
]
