"""The multirun launchers and sweeper in conf/hydra compose with ava.train and instantiate, and what they hold
is what the engine behind them accepts: local (joblib), slurm (submitit), ray_cluster (Ray), lora_optuna
(Optuna). No cluster runs here; the real multirun is in tests/train/test_sweep.py."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf"
HYDRA_OPTIONS = sorted((p.parent.name, p.stem) for group in ("launcher", "sweeper")
                       for p in (CONF / "hydra" / group).glob("*.yaml"))


def hydra_cfg(*overrides: str):
    with initialize_config_module("ava_conf", version_base="1.3"):
        cfg = compose("train", ["dataset=/d", "output_dir=/out", *overrides], return_hydra_config=True)
    return cfg.hydra


@pytest.mark.parametrize("group, option", HYDRA_OPTIONS)
def test_every_launcher_and_sweeper_composes_and_instantiates(group, option):
    node = hydra_cfg(f"hydra/{group}={option}")[group]
    from hydra.plugins.launcher import Launcher
    from hydra.plugins.sweeper import Sweeper

    OmegaConf.to_container(node, resolve=True)
    assert isinstance(instantiate(node), {"launcher": Launcher, "sweeper": Sweeper}[group])  # Hydra can drive it


def test_defaults_joblib_one_job_at_a_time_and_the_summary_callback():
    from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher

    from ava.sweep import SweepSummary

    h = hydra_cfg()
    launcher = instantiate(h.launcher)
    assert isinstance(launcher, JoblibLauncher) and launcher.joblib["n_jobs"] == 1
    assert isinstance(instantiate(h.callbacks.sweep_summary), SweepSummary)
    assert OmegaConf.to_container(h.sweep)["subdir"] == "${hydra.job.num}"  # one folder per job
    assert h.job.name == "train" and h.job.chdir is None  # version_base 1.3: no chdir


def _submitit_params(params: dict) -> dict:
    """The launcher's own mapping to submitit (SlurmLauncher.launch): shared keys bare, the rest slurm_*."""
    import submitit

    shared = submitit.AutoExecutor._valid_parameters()
    return {k if k in shared else f"slurm_{k}": v for k, v in params.items()
            if k not in {"submitit_folder", "max_num_timeout"}}


def test_slurm_launcher_parameters_are_submitit_slurm_parameters(tmp_path):
    import submitit
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

    launcher = instantiate(hydra_cfg("hydra/launcher=slurm", "hydra.launcher.partition=gpu").launcher)
    assert isinstance(launcher, SlurmLauncher)
    assert launcher.params["partition"] == "gpu" and launcher.params["gpus_per_node"] == 1
    assert launcher.params["submitit_folder"].startswith("/out/multirun/")
    assert launcher.params["name"] == "train"
    # No srun here, so the slurm executor cannot start; the local one checks slurm_* names against submitit's
    # sbatch parameters all the same (an unknown name raises, as the last line shows).
    executor = submitit.AutoExecutor(folder=tmp_path, cluster="local")
    executor.update_parameters(**_submitit_params(launcher.params))
    with pytest.raises(NameError, match="slurm_gpus"):
        executor.update_parameters(**_submitit_params({"gpus": 1}))


def test_ray_launcher_options_are_ray_options():
    import inspect

    import ray
    from hydra_plugins.hydra_ray_launcher.ray_launcher import RayLauncher

    launcher = instantiate(hydra_cfg("hydra/launcher=ray_cluster").launcher)
    assert isinstance(launcher, RayLauncher)
    init = OmegaConf.to_container(launcher.ray_cfg.init)
    remote = OmegaConf.to_container(launcher.ray_cfg.remote)
    assert init == {"address": None, "object_store_memory": None} and remote["num_gpus"] == 1
    assert set(init) <= set(inspect.signature(ray.init).parameters)
    ray.remote(**remote)(hydra_cfg)  # Ray validates task options here, without a cluster
    with pytest.raises(ValueError, match="num_gpu"):
        ray.remote(**{**remote, "num_gpu": 1})(hydra_cfg)


def test_optuna_sweeper_searches_lora_rank_alpha_and_log_lr():
    import optuna
    from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
    from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper

    h = hydra_cfg("hydra/sweeper=lora_optuna")
    sweeper = instantiate(h.sweeper)
    assert isinstance(sweeper, OptunaSweeper)
    assert isinstance(sweeper.sweeper.sampler, optuna.samplers.TPESampler) and h.sweeper.sampler.seed == 0
    assert h.sweeper.direction == "minimize"
    space, fixed = create_params_from_overrides([f"{k}={v}" for k, v in sweeper.sweeper.params.items()])
    assert fixed == {}
    assert space["lora.r"] == optuna.distributions.CategoricalDistribution([4, 8, 16, 32])
    assert space["lora.alpha"] == optuna.distributions.CategoricalDistribution([8, 16, 32, 64])
    assert space["optim.lr"] == optuna.distributions.LogUniformDistribution(1e-5, 1e-3)
