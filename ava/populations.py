"""python -m ava.build_dataset, python -m ava.evaluate benchmark=behaviour: the population tables.

Two tables ship in ``ava/data``: ``us_population_2020.csv`` (2020 US Census: 50 states, DC, Puerto Rico and
the island areas; ranks ``delivery_by_region``) and ``eu_eea_population_2023.csv`` (Eurostat, 1 January 2023:
EU27 + Iceland, Liechtenstein, Norway; ranks the countries of a DSA ``age_country_gender_reach_breakdown``).
build_dataset ranks regions per head with them; evaluate draws its random TAP-R baseline from their names.
"""

from __future__ import annotations

import csv
import math
from importlib import resources
from pathlib import Path

US_TABLE = "us_population_2020.csv"
COUNTRY_TABLE = "eu_eea_population_2023.csv"


def _rows(path: str | Path | None, bundled: str) -> tuple[list[dict[str, str]], str]:
    if path is None:
        text = resources.files("ava").joinpath("data", bundled).read_text("utf-8")
        where = f"ava/data/{bundled}"
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"population table not found: {p}; set population.path (or countries_path) "
                                    "to a CSV with columns region,population (or null for the bundled table)")
        text, where = p.read_text("utf-8"), str(p)
    rows = csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    if rows.fieldnames is None or not {"region", "population"} <= set(rows.fieldnames):
        raise ValueError(f"{where}: the header must name the columns region,population")
    return list(rows), where


def load_population(path: str | Path | None, bundled: str = US_TABLE) -> dict[str, float]:
    """Region → population from a CSV with columns ``region,population`` (``#`` lines are comments).

    ``None`` loads the bundled table ``ava/data/<bundled>`` (by default the 2020 US census one).
    """
    rows, where = _rows(path, bundled)
    table: dict[str, float] = {}
    for i, row in enumerate(rows, start=2):
        try:
            pop = float(row["population"])
        except (TypeError, ValueError):
            raise ValueError(f"{where}: row {i}: population {row['population']!r} is not a number") from None
        if not math.isfinite(pop) or pop <= 0:
            raise ValueError(f"{where}: row {i}: population must be a positive number, got {pop}")
        table[row["region"].strip()] = pop
    if not table:
        raise ValueError(f"{where}: no rows")
    return table


def load_codes(path: str | Path | None, bundled: str = COUNTRY_TABLE) -> dict[str, str]:
    """Code → region name from the table's optional ``code`` column (empty when it has none)."""
    rows, _ = _rows(path, bundled)
    return {row["code"].strip(): row["region"].strip() for row in rows if (row.get("code") or "").strip()}
