"""Benchmark decontamination: the original Cosmopedia rule, made fast and deterministic.

The rule, as Cosmopedia's decontamination step states it:
1. Normalise text (NFD, strip combining marks, lowercase) and split it into word
   tokens (`\\w+`).
2. Index every n-gram (`decontamination.ngram`, 10 in the original) of every
   benchmark item's `text`; a generation that shares an n-gram with an item is a
   candidate for that item.
3. For each candidate pair, `SequenceMatcher(autojunk=False)` over the two
   normalised texts (tokens joined by single spaces); sum the sizes of the matching
   blocks longer than `min_block` characters; `ratio = sum / len(benchmark text)`;
   a ratio above `threshold` drops the generation.

Differences from the published script, all on the safe side (every generation it
drops is dropped here too):
- every candidate item is checked (most shared n-grams first, then index order),
  not only the item of the first n-gram met while iterating a Python set, which
  depended on PYTHONHASHSEED and missed documents whose first-found n-gram
  belonged to another item;
- the matched length is the plain sum of block sizes, as the rule states; the
  published script measured the blocks after collapsing whitespace, never longer.

Speed (about 10x the straight script per core, see benchmarks/decontamination.py):
no n-gram is built as a Python tuple (`hashing`); a bitmap and the sorted
benchmark hashes find the candidates (`index`); SequenceMatcher runs only on
confirmed candidate pairs (`shard`). The report table is built in `table`.

Modules: `normalize` (text normalisation, standard library only), `hashing`
(vectorised word and n-gram hashes), `index` (the n-gram index and candidates),
`shard` (one shard's clean rows and hits, the decontaminate job), `table` (the
contamination table and its job).
"""

from .index import DecontaminationIndex, build_index, candidate_items
from .normalize import normalize, word_tokens
from .shard import SEQUENCE_MATCHER, decontaminate_job, decontaminate_shard, match_ratio
from .table import contamination_table, contamination_table_job

__all__ = [
    "SEQUENCE_MATCHER",
    "DecontaminationIndex",
    "build_index",
    "candidate_items",
    "contamination_table",
    "contamination_table_job",
    "decontaminate_job",
    "decontaminate_shard",
    "match_ratio",
    "normalize",
    "word_tokens",
]
