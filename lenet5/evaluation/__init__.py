"""Evaluation: the scores of a model on the test set (scoring), reading and writing them (results),
the pictures of digits (figures), and statistics over seeds (over_seeds)."""
