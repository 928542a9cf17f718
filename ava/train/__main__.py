"""python -m ava.train dataset=DIR output_dir=OUT [model=tiny] [lora.r=16]: LoRA fine-tuning (entry point)."""

import hydra
from omegaconf import DictConfig

from ava.train.run import train


@hydra.main(config_path="pkg://ava_conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
