"""Training data: ontologies and corpora into clean, deduplicated, leak-free contrastive pairs."""

from cardiolora.data.build import DatasetResult, build_ontology_dataset, finish_dataset
from cardiolora.data.leakage import LeakGuard, bundled_guard
from cardiolora.data.ontology import Concept
from cardiolora.data.ontology_pairs import DEFAULT_WEIGHTS, RELATIONS, OntologyRecipe, build_ontology_pairs
from cardiolora.data.records import PairRecord, load_pairs, read_pairs, write_pairs

__all__ = [
    "DEFAULT_WEIGHTS",
    "RELATIONS",
    "Concept",
    "DatasetResult",
    "LeakGuard",
    "OntologyRecipe",
    "PairRecord",
    "build_ontology_dataset",
    "build_ontology_pairs",
    "bundled_guard",
    "finish_dataset",
    "load_pairs",
    "read_pairs",
    "write_pairs",
]
