"""LeNet-5 on MNIST: the stages of the DVC pipeline and the pieces they share."""

import os

# Set before any stage imports TensorFlow: keeps its start-up INFO lines out of every stage's log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
