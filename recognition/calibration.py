"""Choosing the match threshold from labelled embeddings: same-person vs different-people distances."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ThresholdRow:
    threshold: float
    false_accepts: int  # pairs of different people closer than the threshold
    false_rejects: int  # pairs of the same person at or beyond it


@dataclass(frozen=True)
class Calibration:
    same_person: np.ndarray  # distances of every pair of photos of one person
    different_people: np.ndarray  # distances of every pair of photos of two people
    rows: list[ThresholdRow]

    @property
    def closest_different(self) -> float | None:
        return float(self.different_people.min()) if len(self.different_people) else None

    @property
    def farthest_same(self) -> float | None:
        return float(self.same_person.max()) if len(self.same_person) else None


def calibrate(labels: list[int], embeddings: np.ndarray, thresholds: list[float]) -> Calibration:
    """All pairwise distances, split by whether both photos show the same person."""
    vectors = np.asarray(embeddings, dtype=np.float32)
    owner = np.asarray(labels)
    squared = np.sum(vectors**2, axis=1)
    distances = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2.0 * vectors @ vectors.T, 0.0))
    upper = np.triu_indices(len(owner), k=1)
    pair_distances = distances[upper]
    same = owner[upper[0]] == owner[upper[1]]
    same_person, different_people = pair_distances[same], pair_distances[~same]
    rows = [
        ThresholdRow(
            threshold=t,
            false_accepts=int(np.sum(different_people < t)),
            false_rejects=int(np.sum(same_person >= t)),
        )
        for t in thresholds
    ]
    return Calibration(same_person=same_person, different_people=different_people, rows=rows)
