#!/usr/bin/env bash
# The benchmark on an offline machine with a GPU and JAX but no TensorFlow, DVC or network (an
# air-gapped node, say). Two steps, from the project's root:
#
#   lab/offline.sh bundle [FOLDER]              here, with the registry and MNIST at hand: Keras and
#                                                 the few wheels JAX's image lacks, plus MNIST's four
#                                                 .gz files (about 14 MB) into FOLDER (.offline)
#   lab/offline.sh run [FOLDER] [SEEDS] [CASES] there, with FOLDER beside the code: installs the
#                                                 wheels into /tmp, fetches and prepares MNIST from
#                                                 FOLDER, and runs the benchmark on JAX over SEEDS
#                                                 (10) reporting seeds, cases CASES (default,keras_best)
#
# The wheels are for CPython 3.12 on Linux x86_64 (PYTHON_VERSION=3.11 etc. for another); JAX itself
# is the machine's own (its CUDA build). JAX_PLATFORMS=cpu runs the same command on a CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
step=${1:?usage: lab/offline.sh bundle|run [FOLDER] [SEEDS] [CASES]}
folder=${2:-.offline}
case "$step" in
  bundle)
    mirror=${MNIST_MIRROR:?set MNIST_MIRROR to a folder holding MNIST\'s four .gz files}
    mkdir -p "$folder/wheels" "$folder/mnist"
    # Keras's own needs that a JAX image may lack (optree and its typing_extensions, namex) and
    # ruamel.yaml (params.yaml as DVC reads it); the versions of uv.lock.
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$folder/wheels" \
      --python-version "${PYTHON_VERSION:-3.12}" --implementation cp --platform manylinux_2_28_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      keras==3.15.1 optree==0.20.0 namex==0.1.0 typing_extensions==4.16.0 ruamel.yaml==0.19.1
    cp "$mirror"/*-ubyte.gz "$folder/mnist/"
    du -sh "$folder"
    ;;
  run)
    seeds=${3:-10}
    cases=${4:-default,keras_best}
    site=/tmp/lenet5-offline-site
    python3 -m pip install --quiet --no-index --no-deps --no-compile --target "$site" "$folder"/wheels/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax
    python3 -c 'import jax; print("lab: JAX", jax.__version__, "on", jax.devices())'
    MNIST_MIRROR="$(cd "$folder/mnist" && pwd)" python3 -m stages.fetch --sources data/sources.yaml --out data/raw
    python3 -m stages.prepare --params params.yaml --sources data/sources.yaml --raw data/raw --out data/prepared
    python3 -m lab.train_speed --backend jax --seeds "$seeds" --cases "$cases" --max-epochs 5 \
      --runs "${RUNS:-$folder/runs.json}"
    ;;
  *) echo "lab/offline.sh: $step: expected bundle or run" >&2; exit 2 ;;
esac
