"""Package layout only (metadata is in pyproject.toml).

conf/ ships inside the wheel as the package `ava_conf`, so `@hydra.main(config_path="pkg://ava_conf")` finds
the same configs in a clone (editable install) and from an installed wheel; the bundled sample ads ship as
package data of `ava`. kernels/ ships as `ava_kernels`: a top-level `kernels` would shadow the PyPI package of
that name, which transformers probes.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["ava", "ava.*"]) + ["ava_conf", "ava_kernels"],
    package_dir={"ava_conf": "conf", "ava_kernels": "kernels"},
    package_data={"ava_conf": ["*.yaml", "**/*.yaml"], "ava": ["samples/*", "samples/**/*", "data/*"]},
)
