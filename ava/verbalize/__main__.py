"""python -m ava.verbalize input=ads.jsonl output_dir=DIR: verbalize ad media (entry point)."""

import hydra
from omegaconf import DictConfig

from ava.runtime import checked_output_dir
from ava.verbalize.pipeline import verbalize


@checked_output_dir("verbalize")
@hydra.main(config_path="pkg://ava_conf", config_name="verbalize", version_base="1.3")
def main(cfg: DictConfig) -> None:
    verbalize(cfg)


if __name__ == "__main__":
    main()
