"""python -m ava.train dataset=DIR output_dir=OUT [model=tiny] [lora.r=16] [-m lora.r=4,8]: LoRA fine-tuning
(entry point). Returns the mean final validation loss, the objective of ``hydra/sweeper=lora_optuna``.

Nothing heavy is imported here: ``--help``, ``--cfg`` and config errors return without torch, transformers or
peft (tests/train/test_imports.py); the thread policy (``runtime:``) is set before torch loads.
"""

from typing import Any

import hydra
from omegaconf import DictConfig

from ava.runtime import apply_thread_policy, checked_output_dir
from ava.sweep import mean_val_loss, run_job


def _train(cfg: DictConfig) -> dict[str, Any]:
    apply_thread_policy(cfg.runtime.threads, cfg.runtime.omp_wait_policy)
    from ava.train.run import train

    return train(cfg)


@checked_output_dir("train")
@hydra.main(config_path="pkg://ava_conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    return run_job(_train, cfg, mean_val_loss)


if __name__ == "__main__":
    main()
