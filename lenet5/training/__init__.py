"""Training: the network (model), its augmentation and inputs, how long and in what batches it
trains (schedule), the loop with its checkpoints (loop, callbacks), where it runs (backend,
placement, distribute), and the hyperparameter search's space, study and per-epoch report (tuning)."""
