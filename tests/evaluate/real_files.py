"""The real benchmark files under ``../shared/data/eval`` (see its evaluate_real.SOURCE.md), unpacked by the
tests into the released layouts in a temporary folder (never into the project), plus an independent
re-computation of OpinionQA's official definitions (helpers.py ``extract_human_opinions``, ``get_max_wd``,
``process_results.ipynb``, ``representativeness.ipynb``, ``refusals.ipynb``) in plain pandas/SciPy.
"""

from __future__ import annotations

import ast
import gzip
import io
import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import wasserstein_distance

ATTRIBUTES = [
    "CREGION", "AGE", "SEX", "EDUCATION", "CITIZEN", "MARITAL",
    "RELIG", "RELIGATTEND", "POLPARTY", "INCOME", "POLIDEOLOGY", "RACE",
]  # fmt: skip
SAV_WAVES = ["W26", "W41", "W42", "W43", "W92"]


@cache
def packed(eval_dir: Path, name: str) -> dict:
    with gzip.open(eval_dir / name, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def respondents(eval_dir: Path, wave: str) -> pd.DataFrame:
    """One row per real respondent of ``wave``: answer texts (None = no answer), attributes, weight.
    Packed as label tables plus one character per cell: ``" "`` is empty, ``chr(35 + i)`` is label ``i``."""
    w = packed(eval_dir, "opinionqa_atp_sav.json.gz")["waves"][wave]
    cols: dict[str, list] = {"QKEY": w["qkey"]}
    for c in w["columns"]:
        if c in w["codes"]:
            labels = w["labels"][c]
            cols[c] = [None if ch == " " else labels[ord(ch) - 35] for ch in w["codes"][c]]
    cols[f"WEIGHT_{wave}"] = w["weight"]
    return pd.DataFrame(cols)


def write_survey(eval_dir: Path, wave: str, folder: Path) -> Path:
    """``folder/{info,metadata,responses}.csv`` of a real wave: info/metadata verbatim, responses rebuilt."""
    w = packed(eval_dir, "opinionqa_atp.json.gz")["waves"][wave]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "info.csv").write_text(w["info_csv"], encoding="utf-8")
    (folder / "metadata.csv").write_text(w["metadata_csv"], encoding="utf-8")
    respondents(eval_dir, wave).to_csv(folder / "responses.csv", index=False)
    return folder


def info_frame(eval_dir: Path, wave: str) -> pd.DataFrame:
    info = pd.read_csv(io.StringIO(packed(eval_dir, "opinionqa_atp.json.gz")["waves"][wave]["info_csv"]))
    info["references"] = [ast.literal_eval(r) for r in info["references"]]
    info["option_ordinal"] = [ast.literal_eval(r) for r in info["option_ordinal"]]
    return info


def write_model_input(info: pd.DataFrame, path: Path, with_key: bool = True) -> Path:
    """A HELM-style model_input file (tab-separated ``key, question, options``) asking every info.csv row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame({"key": info["key"], "question": info["question"], "options": info["references"].map(str)})
    df.drop(columns=[] if with_key else ["key"]).to_csv(path, sep="\t", index=False)
    return path


def reference_scores(
    hdf: pd.DataFrame, md: pd.DataFrame, info: pd.DataFrame, probs: list[np.ndarray], wave: str
) -> pd.DataFrame:
    """The official ``combined_df`` rows (one per model question and group with human ordinal answers):
    ``qrow, key, group, WD, R_M``. ``probs[i]`` is the model distribution over ``info.references[i]`` (info
    row i = model question i: process_results.ipynb matches each prompt to its info row).

    helpers.extract_human_opinions, written out: a group's D_H is the summed weight of each ordinal
    reference among its respondents answering (any text), NaN weights skipped as pandas' sum skips them;
    groups are the metadata.csv values of each attribute; a group whose ordinal sum is 0 has no row."""
    weight = hdf[f"WEIGHT_{wave}"].to_numpy(dtype=np.float64)
    masks = {"Overall": np.ones(len(hdf), dtype=bool)}
    for attr, opts in zip(md["key"], md["options"], strict=True):
        if attr in ATTRIBUTES:
            for g in ast.literal_eval(opts):
                masks[f"{attr}={g}"] = (hdf[attr] == g).to_numpy()
    rows = []
    for i, r in enumerate(info.itertuples()):
        if r.key not in hdf.columns:
            continue
        n = len(r.option_ordinal)
        p = np.asarray(probs[i], dtype=np.float64)
        d_m, r_m = p[:n] / p[:n].sum(), p[n:].sum() / p.sum()
        answers = hdf[r.key].to_numpy(dtype=object)
        ordinal = list(r.option_ordinal)
        d0, d1 = np.zeros(n), np.zeros(n)
        d0[np.argmax(ordinal)], d1[np.argmin(ordinal)] = 1, 1
        max_wd = wasserstein_distance(ordinal, ordinal, d0, d1)
        per_ref = [np.where(answers == v, weight, 0.0) for v in r.references[:n]]
        for g, m in masks.items():
            d_h = np.array([np.nansum(x[m]) for x in per_ref])
            if d_h.sum() == 0:
                continue
            wd = wasserstein_distance(ordinal, ordinal, d_m, d_h / d_h.sum()) / max_wd if max_wd else np.nan
            rows.append({"qrow": i, "key": r.key, "group": g, "WD": wd, "R_M": r_m})
    return pd.DataFrame(rows)


def reference_metrics(combined: pd.DataFrame) -> dict:
    """Representativeness per group (1 - mean WD; NaN WD of equal-ordinal questions left out, as pandas'
    mean does), the headline (mean over the demographic groups) and the refusal rate (refusals.ipynb)."""
    rep = (1 - combined.groupby("group")["WD"].mean()).to_dict()
    demo = [v for g, v in rep.items() if g != "Overall"]
    refusal = combined.loc[combined["group"] == "Overall", "R_M"].mean()
    return {"per_group": rep, "headline": float(np.mean(demo)), "refusal_rate": float(refusal)}
