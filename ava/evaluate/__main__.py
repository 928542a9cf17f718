"""python -m ava.evaluate benchmark=NAME|all data=PATH model=NAME output_dir=OUT [-m adapter=A,B]: the entry
point. In a multirun each job writes into its own folder; sweep_summary.md compares their headline metrics.
The thread policy (``runtime:``) is set before torch loads, as in python -m ava.train."""

import hydra
from omegaconf import DictConfig

from ava.evaluate.run import evaluate
from ava.runtime import apply_thread_policy, checked_output_dir
from ava.sweep import run_job


@checked_output_dir("evaluate")
@hydra.main(config_path="pkg://ava_conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_job(_evaluate, cfg, objective=lambda doc: None)


def _evaluate(cfg: DictConfig) -> dict:
    apply_thread_policy(cfg.runtime.threads, cfg.runtime.omp_wait_policy)
    return evaluate(cfg)


if __name__ == "__main__":
    main()
