"""Scores of predicted probabilities against labels: loss, accuracy, confusion matrix, per class."""

from __future__ import annotations

import numpy as np


def score(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy and accuracy, computed as Keras does (probabilities clipped at 1e-7)."""
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0)
    loss = float(-np.mean(np.log(picked)))
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == labels))
    return loss, accuracy


def confusion_matrix(actual: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Counts[i, j]: images of class i predicted as j."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (actual, predicted), 1)
    return counts


def per_class_scores(counts: np.ndarray, names: list[str]) -> dict[str, dict[str, float]]:
    """Precision, recall and F1 of each class by name, and their unweighted mean as "macro" (0 where undefined)."""
    classes = len(names)
    hits = np.diag(counts).astype(np.float64)
    precision = np.divide(hits, counts.sum(axis=0), out=np.zeros(classes), where=counts.sum(axis=0) > 0)
    recall = np.divide(hits, counts.sum(axis=1), out=np.zeros(classes), where=counts.sum(axis=1) > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(classes), where=both > 0)
    scores = {
        name: {"precision": round(p, 6), "recall": round(r, 6), "f1": round(f, 6)}
        for name, (p, r, f) in zip(names, zip(precision, recall, f1, strict=True), strict=True)
    }
    macro = {"precision": precision.mean(), "recall": recall.mean(), "f1": f1.mean()}
    return scores | {"macro": {name: round(float(value), 6) for name, value in macro.items()}}
