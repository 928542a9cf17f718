"""python -m ava.train dataset=DIR output_dir=OUT [model=tiny] [lora.r=16] [-m lora.r=4,8]: LoRA fine-tuning
(entry point). Returns the mean final validation loss, the objective of ``hydra/sweeper=lora_optuna``."""

import hydra
from omegaconf import DictConfig

from ava.runtime import checked_output_dir
from ava.sweep import mean_val_loss, run_job
from ava.train.run import train


@checked_output_dir("train")
@hydra.main(config_path="pkg://ava_conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    return run_job(train, cfg, mean_val_loss)


if __name__ == "__main__":
    main()
