"""python -m ava.evaluate benchmark=NAME: the evaluation suites (reader, prompts, official metric), by name."""

from __future__ import annotations

from types import ModuleType

from ava.evaluate.suites import culturebank, culturenli, global_opinionqa, opinionqa, oqa_xl

SUITES: dict[str, ModuleType] = {
    m.NAME: m for m in (opinionqa, oqa_xl, global_opinionqa, culturenli, culturebank)
}
UNSUPPORTED = {
    "gss": "GSS (the ALPHA paper's temporal benchmark) is not supported yet: the AVA release ships its "
    "questions (GSS/questions_final.json) and the raw GSS 1972-2018 cumulative file, but not how answers "
    "become per-year/per-group distributions, so no official metric can be reproduced. Use one of: "
    + ", ".join(SUITES),
}


def get(name: str) -> ModuleType:
    if name in UNSUPPORTED:
        raise NotImplementedError(UNSUPPORTED[name])
    if name not in SUITES:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {', '.join(SUITES)} or all")
    return SUITES[name]
