"""python -m ava.evaluate benchmark=NAME|all data=PATH model=NAME output_dir=OUT [-m adapter=A,B]: the entry
point. In a multirun each job writes into its own folder; sweep_summary.md compares their headline metrics."""

import hydra
from omegaconf import DictConfig

from ava.evaluate.run import evaluate
from ava.runtime import checked_output_dir
from ava.sweep import run_job


@checked_output_dir("evaluate")
@hydra.main(config_path="pkg://ava_conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_job(evaluate, cfg, objective=lambda doc: None)


if __name__ == "__main__":
    main()
