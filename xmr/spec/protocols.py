"""Named evaluation protocols. A protocol fixes everything that makes MAP numbers comparable."""

from __future__ import annotations

from ..registry import Registry
from .models import ProtocolSpec

PROTOCOLS: Registry[ProtocolSpec] = Registry("protocol")


def _add(spec: ProtocolSpec, description: str) -> None:
    PROTOCOLS.register(spec.name, description)(spec)


_add(ProtocolSpec(name="category_cosine", relevance="category", distance="cosine"),
     "single-label: relevant = same category; cosine; test split as queries and database")
_add(ProtocolSpec(name="category_euclidean", relevance="category", distance="euclidean"),
     "single-label: relevant = same category; Euclidean distance; test split as database")
_add(ProtocolSpec(name="multilabel_cosine", relevance="shared_label", distance="cosine"),
     "multi-label: relevant = shares at least one label; cosine; test split as database")
_add(ProtocolSpec(name="multilabel_hamming", relevance="shared_label", distance="hamming",
                  database="train"),
     "hashing: relevant = shares a label; Hamming ranking of bit-packed codes; train split as "
     "retrieval set")
_add(ProtocolSpec(name="multilabel_hamming_retrieval", relevance="shared_label", distance="hamming",
                  database="retrieval"),
     "hashing, the DCMH protocol: test split as queries, every other item as the retrieval set")
_add(ProtocolSpec(name="multilabel_cosine_retrieval", relevance="shared_label", distance="cosine",
                  database="retrieval"),
     "multi-label: relevant = shares a label; cosine; every non-query item as the retrieval set")
_add(ProtocolSpec(name="instance_cosine", relevance="instance", distance="cosine"),
     "caption datasets without classes: only the query's own pair is relevant; cosine")
_add(ProtocolSpec(name="category_hamming", relevance="category", distance="hamming"),
     "hashing, single-label: Hamming ranking of bit-packed codes; test split as database")
_add(ProtocolSpec(name="category_learned", relevance="category", distance="learned"),
     "single-label; ranked by the learned metric network's pair scores")


def resolve_protocol(protocol: str | ProtocolSpec) -> ProtocolSpec:
    return PROTOCOLS.get(protocol) if isinstance(protocol, str) else protocol
