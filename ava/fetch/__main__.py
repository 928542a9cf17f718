"""python -m ava.fetch output_dir=OUT query.ad_delivery_date_min=... [stage=media]: the Ad Library (entry point)."""

import sys

import hydra
from omegaconf import DictConfig

from ava.fetch.token import refuse_token_arguments
from ava.runtime import checked_output_dir


@checked_output_dir("fetch")
@hydra.main(config_path="pkg://ava_conf", config_name="fetch", version_base="1.3")
def _main(cfg: DictConfig) -> None:
    if cfg.stage == "media":
        from ava.fetch.media import fetch_media

        fetch_media(cfg)
    elif cfg.stage == "ads":
        from ava.fetch.crawl import fetch_ads

        fetch_ads(cfg)
    else:
        raise SystemExit(f"stage={cfg.stage}: expected ads or media")


def main() -> None:
    refuse_token_arguments(sys.argv[1:])  # before Hydra, which would store the command line
    _main()


if __name__ == "__main__":
    main()
