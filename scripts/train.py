"""Entry point for ``accelerate launch``: ``accelerate launch [options] scripts/train.py train DATA ...``.

Same arguments as ``live2diff-broadcast train``; accelerate starts one such process per GPU
(and per machine), and the trainer shards the data and averages gradients across them.
"""

import sys

from live2diff_broadcast.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
