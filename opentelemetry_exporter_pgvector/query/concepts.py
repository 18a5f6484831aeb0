"""Which well-known failures a question is about, recognized by meaning rather than by words.

A shape whose failure the glossary knows starts with that failure's meaning
(``convert/glossary.py``): ``deadlock (two transactions each wait ...) | ...``. People asking
rarely use the failure's name: they write "two writers blocked each other on the same rows".
The model puts such a question near several failures' shapes at once (a deadlock and a lock
wait timeout share most words), so vectors alone rank near neighbours in the wrong order. Here
the question is compared with each failure's meaning and with the ways people describe it (its
``symptoms``), all embedded once per process by the same model, and each failure gets a weight:
a softmax of its similarity, scaled down to nothing for a question about no known failure. A
hybrid search ranks the shapes of the weighted failures first, by that weight
(``query/similar.py``).

The constants were chosen on the tuning queries of ``tests/search_corpus.py``
(``benchmarks/search_quality.py``; docs/embeddings.md tells how).
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..convert.glossary import GLOSSARY, NO_FAILURE_DESCRIPTIONS
from ..embedding.fixed_texts import fixed_text_vectors

if TYPE_CHECKING:
    from ..embedding.backends import EmbeddingBackend

# A failure's similarity to a question is the mean cosine similarity of its AGREEING most
# similar descriptions, so that one description close by accident (a lock wait timeout's
# "writers" in a question about a deadlock) does not decide alone.
AGREEING = 6
# A failure the question names in an error's own words (the glossary's patterns match it) is
# this much more similar: evidence, not a verdict, as prose says "timed out" of many failures.
NAMED_EVIDENCE = 0.1
# The softmax's temperature: a failure 0.03 more similar weighs e (2.7) times as much.
TEMPERATURE = 0.03
# A question at most FLOOR similar to every failure is about none of them; one at least FULL
# similar to one is surely about a failure; in between, the weights are scaled down linearly.
# Long questions are less similar to short descriptions, hence the low bounds.
FLOOR = 0.25
FULL = 0.45
# Failures weighted less than this are left out of the search.
MIN_WEIGHT = 0.05
# What questions about no failure weigh as, beside the failures: "slow checkout requests" is not
# read as being about some failure for want of a better answer.
NO_FAILURE = "no failure"


class ConceptWeight(NamedTuple):
    """A failure's ``meaning`` (as shape texts start with it) and how much a question is about it."""

    meaning: str
    weight: float


_OWNERS = (*(gloss.meaning for gloss in GLOSSARY for _ in (gloss.meaning, *gloss.symptoms)),
           *(NO_FAILURE for _ in NO_FAILURE_DESCRIPTIONS))
_DESCRIPTIONS = (*(text for gloss in GLOSSARY for text in (gloss.meaning, *gloss.symptoms)),
                 *NO_FAILURE_DESCRIPTIONS)


def failure_weights(backend: EmbeddingBackend, cache_dir: Path, query_vector: Any, named: str | None = None,
                    ) -> tuple[ConceptWeight, ...]:
    """The failures a question is about, most likely first, from its vector ``query_vector`` (of
    ``backend``'s model) and the meaning of the failure its words ``named``, if any.

    The descriptions (every gloss's meaning and symptoms, and the no-failure ones: some 700
    texts) are embedded on the first search with a model and kept in ``cache_dir``.
    """
    similarities: dict[str, list[float]] = {}
    described = (fixed_text_vectors(backend, _DESCRIPTIONS, cache_dir) @ query_vector).tolist()
    for owner, similarity in zip(_OWNERS, described, strict=True):
        similarities.setdefault(owner, []).append(similarity)
    best = {meaning: statistics.fmean(sorted(values)[-AGREEING:]) for meaning, values in similarities.items()}
    if named is not None:
        best[named] += NAMED_EVIDENCE
    top = max(best.values())
    confidence = min(1.0, max(0.0, (top - FLOOR) / (FULL - FLOOR)))
    if confidence == 0:
        return ()
    exponentials = {meaning: math.exp((value - top) / TEMPERATURE) for meaning, value in best.items()}
    total = sum(exponentials.values())
    weights = (ConceptWeight(meaning, confidence * value / total) for meaning, value in exponentials.items()
               if meaning != NO_FAILURE)
    kept = (weight for weight in weights if weight.weight >= MIN_WEIGHT)
    return tuple(sorted(kept, key=lambda weight: -weight.weight))
