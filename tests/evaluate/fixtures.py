"""Small benchmark files in each official layout, written by the tests (no downloads), and the reader config,
the tiny model config and a loop-by-loop human reference the tests share."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

# OpinionQA survey W99: (key, question, references (ordinal first, refusal last), option_ordinal)
OQA_INFO = [
    (
        "CARS1_W99",
        "How much have you heard about driverless cars?",
        ["A lot", "A little", "Nothing at all", "Refused"],
        [1.0, 2.0, 3.0],
    ),
    # positions not 1..N: the third option sits between the first two
    (
        "WORK3_W99",
        "What impact have robots had on your job?",
        ["Positive impact", "Negative impact", "No impact either way", "Refused"],
        [1.0, 2.0, 1.5],
    ),
    # all positions equal: not ordinal, must be skipped
    (
        "INDUSTRY_W99",
        "What industry do you work in?",
        ["Retail", "Health care", "Other", "Refused"],
        [1, 1, 1],
    ),
]
# model_input shows WORK3's options in another order than info.csv's references
OQA_MODEL_INPUT = [
    ("CARS1_W99", ["A lot", "A little", "Nothing at all", "Refused"]),
    ("WORK3_W99", ["Negative impact", "Positive impact", "No impact either way", "Refused"]),
    ("INDUSTRY_W99", ["Retail", "Health care", "Other", "Refused"]),
]
# respondents: answers, demographics, weight (None = question not asked / skipped)
OQA_RESPONSES = [
    {"CARS1_W99": "A lot", "WORK3_W99": "Positive impact", "SEX": "Male", "POLPARTY": "Republican", "W": 2.0},
    {
        "CARS1_W99": "A little",
        "WORK3_W99": "Negative impact",
        "SEX": "Female",
        "POLPARTY": "Democrat",
        "W": 1.0,
    },
    {
        "CARS1_W99": "Refused",
        "WORK3_W99": "No impact either way",
        "SEX": "Female",
        "POLPARTY": "Democrat",
        "W": 0.5,
    },
    {"CARS1_W99": "Nothing at all", "WORK3_W99": None, "SEX": "Male", "POLPARTY": "Democrat", "W": 1.5},
    {"CARS1_W99": "A lot", "WORK3_W99": "Refused", "SEX": "Female", "POLPARTY": "Republican", "W": 3.0},
    {
        "CARS1_W99": "A little",
        "WORK3_W99": "Negative impact",
        "SEX": "Refused",
        "POLPARTY": "Other",
        "W": 1.0,
    },
]
OQA_METADATA = {"SEX": ["Male", "Female"], "POLPARTY": ["Republican", "Democrat"]}


def write_pew_survey(folder: Path, wave: int, info: list, responses: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for key, question, refs, ordinal in info:
        mapping = {float(i + 1): r for i, r in enumerate(refs[:-1])} | {99.0: refs[-1]}
        rows.append(
            {
                "key": key,
                "option_mapping": str(mapping),
                "question": question,
                "references": str(refs),
                "option_ordinal": str(ordinal),
            }
        )
    pd.DataFrame(rows).to_csv(folder / "info.csv")  # the release keeps a leading index column
    pd.DataFrame({"key": list(OQA_METADATA), "options": [str(v) for v in OQA_METADATA.values()]}).to_csv(
        folder / "metadata.csv"
    )
    resp = pd.DataFrame(responses).rename(columns={"W": f"WEIGHT_W{wave}"})
    resp.insert(0, "QKEY", range(len(resp)))
    resp.to_csv(folder / "responses.csv", index=False)


def write_opinionqa(root: Path, with_key: bool = True) -> Path:
    write_pew_survey(root / "human_resp" / "American_Trends_Panel_W99", 99, OQA_INFO, OQA_RESPONSES)
    mi = root / "model_input"
    mi.mkdir(parents=True, exist_ok=True)
    info = {k: q for k, q, _, _ in OQA_INFO}
    rows = [{"key": k, "question": info[k], "options": str(opts)} for k, opts in OQA_MODEL_INPUT]
    df = pd.DataFrame(rows)
    if not with_key:
        df = df.drop(columns="key")
    df.to_csv(mi / "Pew_American_Trends_Panel_W99.csv", sep="\t", index=False)
    pd.DataFrame(
        [
            {
                "question": "In politics today, do you consider yourself a",
                "options": str(["Republican", "Democrat", "Independent", "Refused"]),
                "correct": "Democrat",
                "md": "POLPARTY",
                "subgroup": "Democrat",
            }
        ]
    ).to_csv(mi / "steer-qa.csv", sep="\t", index=False)
    for ctx, text in (
        ("bio", "Description: In politics today, I consider myself a Democrat."),
        ("portray", "Answer the following question as if you were a Republican."),
    ):
        sub = "Democrat" if ctx == "bio" else "Republican"
        pd.DataFrame([{"question": text, "md": "POLPARTY", "subgroup": sub}]).to_csv(
            mi / f"steer-{ctx}.csv", sep="\t", index=False
        )
    return root


def write_sav(path: Path, columns: dict[str, list], labels: dict[str, dict[float, str]]) -> Path:
    """An SPSS file with value labels, written by pyreadstat (None = missing)."""
    import pyreadstat

    path.parent.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame({c: pd.array(v, dtype="Float64").astype(float) for c, v in columns.items()})
    pyreadstat.write_sav(df, str(path), variable_value_labels=labels)
    return path


def write_atp_release(
    root: Path, wave: int, questions: dict, columns: dict[str, list], labels: dict, nested: bool = True
) -> Path:
    """The OQA-XL release layout: opinionqa-xl.json, ``ATP_data/PEW_ATP_Cleaned/<folder>/[<folder>/]ATP W<n>.sav``
    and a ``__MACOSX`` resource-fork copy that is not an SPSS file."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "opinionqa-xl.json").write_text(json.dumps(questions))
    folder = f"W{wave}_Sep19"
    base = root / "ATP_data" / "PEW_ATP_Cleaned" / folder
    write_sav((base / folder if nested else base) / f"ATP W{wave}.sav", columns, labels)
    junk = root / "__MACOSX" / "ATP_data" / "PEW_ATP_Cleaned" / folder / folder / f"._ATP W{wave}.sav"
    junk.parent.mkdir(parents=True, exist_ok=True)
    junk.write_bytes(b"\x00\x05\x16\x07Mac OS X        resource fork")
    return root


ATP_LABELS = {
    "F_SEX_FINAL": {1: "Male", 2: "Female", 99: "Refused"},
    "F_PARTY_FINAL": {1: "Republican", 2: "Democrat", 3: "Independent", 4: "Something else", 99: "Refused"},
}


def write_oqa_xl(root: Path) -> Path:
    questions = {
        "W54": {
            "SPORTPOL": {
                "question": "How important is it that athletes share your views?",
                "options": ["Not too important", "Refused", "nan", "Very important", "Somewhat important"],
            },
            "NOHUMAN": {"question": "A question with no human data", "options": ["Yes", "No", "Refused"]},
        }
    }
    labels = {"SPORTPOL_W54": {1: "Very important", 2: "Somewhat important", 3: "Not too important", 99: "Refused"},
              **ATP_LABELS}  # fmt: skip
    columns = {
        "QKEY": [1, 2, 3],
        "SPORTPOL_W54": [1, 3, 2],  # Very (Male, Democrat, 1.0), Not too (Female, Republican, 2.0), Somewhat
        "F_SEX_FINAL": [1, 2, 2],
        "F_PARTY_FINAL": [2, 1, 2],
        "WEIGHT_W54": [1.0, 2.0, 1.0],
    }
    return write_atp_release(root, 54, questions, columns, labels)


GOQA_ROWS = [
    (
        "Do you approve of the EU?",
        ["Approve", "Disapprove", "DK/Refused"],
        "defaultdict(<class 'list'>, {'Belgium': [0.6, 0.3, 0.1], 'Japan': [0.2, 0.7, 0.1]})",
    ),
    (
        "Is religion important?",
        ["Yes", "No"],
        "defaultdict(<class 'list'>, {'Belgium': [0.25, 0.75], 'Nigeria': [0.9, 0.1], "
        "'Japan': [0.5, 0.4, 0.1]})",
    ),
    ("Unsafe row", ["Yes", "No"], "defaultdict(<class 'list'>, {'X': __import__('os').getcwd()})"),
]


def write_goqa(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        [{"question": q, "selections": s, "options": str(o), "source": "GAS"} for q, o, s in GOQA_ROWS]
    ).to_csv(root / "global_opinions.csv", index=False)
    return root


CNLI_ROWS = [
    ("A man eats with his hands.", "He is being rude.", ["C", "C", "N"], ["N", "E", "E"]),
    ("She wears white at a wedding.", "She is the bride.", ["E", "E", "E"], ["C", "N", "C"]),
    ("They touched the elder's feet.", "They show respect.", ["E", "N", "E"], ["E", "E", "E"]),
    ("He tipped 20 percent.", "The service was good.", ["N", "N", "E"], ["N", "C", "C"]),
]


def write_culturenli(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["premise\thypothesis\tus_ratings\tin_ratings"]
    lines += [f"{p}\t{h}\t{us}\t{ind}" for p, h, us, ind in CNLI_ROWS]
    (root / "data.tsv").write_text("\n".join(lines) + "\n")
    return root


CB_ROWS = [
    ("Japanese", "at dinner", "show respect", "bow before eating", 0.9),
    ("Japanese", "in trains", "keep quiet", "avoid phone calls", 0.4),
    ("Brazilian", "at parties", "socialise", "greet everyone with kisses", 0.8),
    ("Brazilian", "at work", "be on time", "arrive late to meetings", 0.3),
    ("German", "on Sundays", "rest", "keep quiet", ""),
]


def write_culturebank(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "cultural group": g,
            "context": c,
            "goal": goal,
            "relation": "",
            "actor": "people",
            "actor_behavior": b,
            "recipient": "",
            "recipient_behavior": "",
            "other_descriptions": "",
            "topic": "Etiquette",
            "agreement": a,
            "num_support_bin": "[10, 20)",
        }
        for g, c, goal, b, a in CB_ROWS
    ]
    pd.DataFrame(rows).to_csv(root / "culturebank_tiktok.csv", index=False)
    return root


def write_all(root: Path) -> Path:
    write_opinionqa(root / "opinionqa")
    write_oqa_xl(root / "oqa_xl")
    write_goqa(root / "global_opinionqa")
    write_culturenli(root / "culturenli")
    write_culturebank(root / "culturebank")
    return root


def write_jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def compose_cfg(overrides: list[str]):
    from hydra import compose, initialize_config_module

    with initialize_config_module("ava_conf", version_base="1.3"):
        return compose("evaluate", overrides=overrides)


TINY = OmegaConf.create({"name_or_path": "tiny", "dtype": "float32", "tiny": {"seed": 0}})

CFG = OmegaConf.create(
    {
        "attributes": ["SEX", "POLPARTY"],
        "steering": ["qa", "bio", "portray"],
        "template": "{context}Question: {question}\n{options}\nAnswer:",
        "option_format": "{letter}. {option}",
        "steer_formats": {
            "qa": "Question: {question}\n{options}\nAnswer: {answer}\n\n",
            "bio": "{text}\n\n",
            "portray": "{text}\n\n",
        },
    }
)


def human_reference(responses, qkey):
    """Weighted answer totals per group, by plain loops (independent of the pandas reader)."""
    out = defaultdict(lambda: defaultdict(float))
    for r in responses:
        if r[qkey] is None:
            continue
        out["Overall"][r[qkey]] += r["W"]
        for attr, values in OQA_METADATA.items():
            if r[attr] in values:
                out[f"{attr}={r[attr]}"][r[qkey]] += r["W"]
    return {g: dict(v) for g, v in out.items()}
