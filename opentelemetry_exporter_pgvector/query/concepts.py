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
import threading
from typing import TYPE_CHECKING, Any, NamedTuple

from ..convert.glossary import GLOSSARY

if TYPE_CHECKING:
    from ..embedding.backends import EmbeddingBackend

# A failure's similarity to a question is the mean cosine similarity of its AGREEING most
# similar descriptions, so that one description close by accident (a lock wait timeout's
# "writers" in a question about a deadlock) does not decide alone.
AGREEING = 2
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


class ConceptWeight(NamedTuple):
    """A failure's ``meaning`` (as shape texts start with it) and how much a question is about it."""

    meaning: str
    weight: float


# Questions about no failure: in the softmax beside the failures, so that "slow checkout
# requests" is not read as being about some failure for want of a better answer.
NO_FAILURE = "no failure"
NO_FAILURE_DESCRIPTIONS = (
    "slow requests with high latency",
    "the slowest requests of an endpoint",
    "latency went up, requests take longer than usual",
    "how long an operation takes, its duration",
    "all spans of a service, a route or an endpoint",
    "successful calls that completed normally",
    "operations with this name",
    "traffic volume and throughput of a service",
)
_OWNERS = (*(gloss.meaning for gloss in GLOSSARY for _ in (gloss.meaning, *gloss.symptoms)),
           *(NO_FAILURE for _ in NO_FAILURE_DESCRIPTIONS))
_DESCRIPTIONS = [*(text for gloss in GLOSSARY for text in (gloss.meaning, *gloss.symptoms)),
                 *NO_FAILURE_DESCRIPTIONS]
_embedded: dict[str, Any] = {}
_embedded_lock = threading.Lock()


def _description_vectors(backend: EmbeddingBackend) -> Any:
    """The vectors of every gloss's meaning and symptoms (in :data:`_OWNERS`' order): about 250
    short texts, embedded once per process and model, on the first text search (0.3-0.6 s)."""
    with _embedded_lock:
        vectors = _embedded.get(backend.model_name)
        if vectors is None:
            vectors = _embedded[backend.model_name] = backend.encode(_DESCRIPTIONS)
        return vectors


def failure_weights(backend: EmbeddingBackend, query_vector: Any, named: str | None = None,
                    ) -> tuple[ConceptWeight, ...]:
    """The failures a question is about, most likely first, from its vector ``query_vector`` (of
    ``backend``'s model) and the meaning of the failure its words ``named``, if any."""
    similarities: dict[str, list[float]] = {}
    described = (_description_vectors(backend) @ query_vector).tolist()
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
    weights = (ConceptWeight(meaning, confidence * value / total) for meaning, value in exponentials.items())
    return tuple(sorted((weight for weight in weights if weight.weight >= MIN_WEIGHT and weight.meaning != NO_FAILURE),
                        key=lambda weight: -weight.weight))
