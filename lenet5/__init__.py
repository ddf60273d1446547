"""LeNet-5 on MNIST: data, model, training, scoring and file handling, with no knowledge of DVC.

The DVC stages in `stages/` are thin scripts over this package; `lenet5-predict` is its command.
"""

import os

from lenet5.cpu import choose_onednn

# Set before anything imports TensorFlow: keeps its start-up INFO lines out of every log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# And its oneDNN kernels on where they are faster but TensorFlow leaves them off (lenet5/cpu.py).
choose_onednn()
