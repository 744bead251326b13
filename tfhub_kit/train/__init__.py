"""Training stage: train the recipe's network on `tf.distribute` before export.

    result = train_recipe("models/tfhub-kit/all_minilm_l3_distilled", out_dir="build")
    result.run_dir          # build/<publisher>/<model>/runs/<run-id>/ (ckpt/, logs/, train.json)

`run` is the entry point, `strategy` picks the `tf.distribute` strategy, `data` turns the
recipe's objectives into input pipelines, `objectives` holds the losses, `loop` the custom
training loop with checkpoints and TensorBoard. Export reads the finished run back through
`tfhub_kit.runs`.
"""

from tfhub_kit.runs import TRAIN_FILE, restore_trained, run_id
from tfhub_kit.train.run import TrainResult, train_recipe

__all__ = ["TRAIN_FILE", "TrainResult", "restore_trained", "run_id", "train_recipe"]
