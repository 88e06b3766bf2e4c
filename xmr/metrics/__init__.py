"""Retrieval metrics: pure functions (`functional`), scorers, and the chunked task evaluator."""

from .evaluate import TASKS, NonFiniteScores, Side, TaskResult, evaluate_task, make_scorer
from .functional import chunk_metrics, rank, ranked_relevance, relevance
from .scorers import SCORERS, hamming_distance, pack_codes

__all__ = ["SCORERS", "TASKS", "NonFiniteScores", "Side", "TaskResult", "chunk_metrics",
           "evaluate_task",
           "hamming_distance", "make_scorer", "pack_codes", "rank", "ranked_relevance", "relevance"]
