"""python -m ava.evaluate benchmark=NAME|all data=PATH model=NAME output_dir=OUT: the entry point."""

import hydra
from omegaconf import DictConfig

from ava.evaluate.run import evaluate


@hydra.main(config_path="pkg://ava_conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
