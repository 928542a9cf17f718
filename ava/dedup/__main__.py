"""python -m ava.dedup input=VERBALIZE_DIR output_dir=DIR: group duplicate creatives (entry point)."""

import hydra
from omegaconf import DictConfig

from ava.dedup.run import dedup
from ava.runtime import checked_output_dir


@checked_output_dir("dedup")
@hydra.main(config_path="pkg://ava_conf", config_name="dedup", version_base="1.3")
def main(cfg: DictConfig) -> None:
    dedup(cfg)


if __name__ == "__main__":
    main()
