"""Map a recipe's `train.strategy` to a `tf.distribute` strategy.

    strategy = make_strategy(recipe.train, recipe_file=recipe.file)
    check_batch_sizes(recipe, strategy.num_replicas_in_sync)

- `cpu`: one replica on the CPU (`OneDeviceStrategy`);
- `mirrored`: `MirroredStrategy` over this machine's GPUs (or its CPU);
- `multi_worker`: `MultiWorkerMirroredStrategy`, cluster and task from `TF_CONFIG`;
- `tpu`: `TPUStrategy` over `TPUClusterResolver(tpu=name, zone=..., project=...)` after
  connecting to the cluster and initialising the TPU system;
- `auto`: multi_worker when `TF_CONFIG` names more than one worker, mirrored with several
  GPUs, one GPU or the CPU otherwise.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tfhub_kit.errors import RecipeError, TrainError
from tfhub_kit.recipe import Recipe, TpuSection, TrainSection


def make_strategy(train: TrainSection, *, recipe_file: Path | str = "recipe.yaml") -> Any:
    """The strategy the recipe asks for (create it before any other TensorFlow work)."""
    import tensorflow as tf

    kind = resolve_kind(train)
    if kind == "tpu":
        assert train.tpu is not None  # recipe.py requires it
        resolver = tpu_resolver(train.tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if kind == "multi_worker":
        if not _tf_config_workers():
            raise TrainError(
                f"{recipe_file}: train.strategy is multi_worker but TF_CONFIG is not set; set it on every worker, "
                'e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                '"task": {"type": "worker", "index": 0}}\''
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    device = "/gpu:0" if gpus and train.strategy == "auto" else "/cpu:0"
    return tf.distribute.OneDeviceStrategy(device)


def resolve_kind(train: TrainSection) -> str:
    """`auto` resolved against TF_CONFIG and the visible GPUs; other kinds unchanged."""
    if train.strategy != "auto":
        return train.strategy
    if len(_tf_config_workers()) > 1:
        return "multi_worker"
    if train.tpu is not None:
        return "tpu"
    import tensorflow as tf

    return "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "cpu"


def tpu_resolver(tpu: TpuSection) -> Any:
    """`TPUClusterResolver` for the recipe's TPU (contacts nothing until it is used)."""
    import tensorflow as tf

    return tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu.name, zone=tpu.zone, project=tpu.project)


def check_batch_sizes(recipe: Recipe, replicas: int) -> None:
    """Every objective's global batch must split evenly over the replicas."""
    assert recipe.train is not None
    for where, section in recipe.train.phase_sections():
        for i, step in enumerate(section.objectives):
            own = step.settings.batch_size
            batch = own or section.global_batch_size
            field = f"{where}.objectives[{i}].{step.name}.batch_size" if own else f"{where}.global_batch_size"
            if batch % replicas:
                raise RecipeError(
                    recipe.file,
                    field,
                    f"must divide evenly over the {replicas} replicas of this strategy",
                    allowed=f"a multiple of {replicas}",
                    value=batch,
                )


def is_chief(strategy: Any) -> bool:
    """True on the one worker that writes checkpoints, logs and reports."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not in_multi_worker_mode(strategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type in (None, "chief") or (task_type == "worker" and task_id == 0 and not _has_chief(resolver))


def in_multi_worker_mode(strategy: Any) -> bool:
    return bool(getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)())


def barrier(strategy: Any) -> None:
    """Wait until every worker reaches this point (an all-reduce; a no-op in one process)."""
    if not in_multi_worker_mode(strategy):
        return
    import tensorflow as tf

    @tf.function
    def meet() -> Any:
        return strategy.run(lambda: tf.distribute.get_replica_context().all_reduce("sum", tf.constant(1.0)))

    meet()


def _has_chief(resolver: Any) -> bool:
    return "chief" in resolver.cluster_spec().as_dict()


def _tf_config_workers() -> list[str]:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return []
    try:
        cluster = json.loads(raw).get("cluster", {})
    except json.JSONDecodeError as exc:
        raise TrainError(f"TF_CONFIG is not valid JSON ({exc})") from exc
    return [*cluster.get("chief", []), *cluster.get("worker", [])]
