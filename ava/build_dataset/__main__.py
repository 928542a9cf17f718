"""python -m ava.build_dataset manifest=ADS verbalized=DIR dedup=DIR|null output_dir=DIR (entry point)."""

import hydra
from omegaconf import DictConfig

from ava.build_dataset.run import build_dataset
from ava.runtime import checked_output_dir


@checked_output_dir("build_dataset")
@hydra.main(config_path="pkg://ava_conf", config_name="build_dataset", version_base="1.3")
def main(cfg: DictConfig) -> None:
    build_dataset(cfg)


if __name__ == "__main__":
    main()
