"""python -m ava.evaluate benchmark=NAME: the evaluation suites (reader, prompts, official metric), by name."""

from __future__ import annotations

from types import ModuleType

from ava.evaluate.suites import culturebank, culturenli, global_opinionqa, gss, opinionqa, oqa_xl

SUITES: dict[str, ModuleType] = {
    m.NAME: m for m in (opinionqa, oqa_xl, global_opinionqa, culturenli, culturebank, gss)
}


def get(name: str) -> ModuleType:
    if name not in SUITES:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {', '.join(SUITES)} or all")
    return SUITES[name]
