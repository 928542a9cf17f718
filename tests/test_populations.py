"""ava.populations: the bundled tables against the published totals, and tables given in config."""

import pytest

from ava.populations import COUNTRY_TABLE, load_codes, load_population

TERRITORIES = {"Puerto Rico": 3_285_874, "Guam": 153_836, "US Virgin Islands": 87_146,
               "American Samoa": 49_710, "Northern Mariana Islands": 47_329}  # 2020 census


def test_population_table_is_the_2020_census():
    pop = load_population(None)
    assert len(pop) == 56  # 50 states + DC + Puerto Rico + 4 island areas
    states = {r: p for r, p in pop.items() if r not in TERRITORIES}
    assert len(states) == 51 and sum(states.values()) == 331_449_281  # the published 50 states + DC total
    assert pop["California"] == 39_538_223
    assert pop["Texas"] == 29_145_505
    assert pop["Wyoming"] == 576_851
    assert pop["Vermont"] == 643_077
    assert pop["District of Columbia"] == 689_545
    assert {r: pop[r] for r in TERRITORIES} == TERRITORIES


def test_country_table_is_eu_eea_2023():
    pop = load_population(None, COUNTRY_TABLE)
    codes = load_codes(None)
    assert len(pop) == len(codes) == 30 and set(codes.values()) == set(pop)
    eea = {"Iceland", "Liechtenstein", "Norway"}
    eu27 = sum(p for c, p in pop.items() if c not in eea)
    assert eu27 == pytest.approx(448_400_000, rel=0.005)  # Eurostat's published EU27 total, 1 January 2023
    assert codes["GR"] == "Greece" and codes["NL"] == "Netherlands"
    assert pop["Germany"] > pop["France"] > pop["Italy"] > pop["Spain"] > pop["Poland"]  # the known order


def test_population_from_config_and_bad_tables(tmp_path):
    good = tmp_path / "prov.csv"
    good.write_text("# Canada, made up\nregion,population\nOntario,100\nQuebec,50\n")
    assert load_population(good) == {"Ontario": 100.0, "Quebec": 50.0}
    bad = tmp_path / "bad.csv"
    bad.write_text("region,population\nOntario,-3\n")
    with pytest.raises(ValueError, match="row 2: population must be a positive"):
        load_population(bad)
    bad.write_text("name,people\nOntario,3\n")
    with pytest.raises(ValueError, match="region,population"):
        load_population(bad)
    with pytest.raises(FileNotFoundError, match="population.path"):
        load_population(tmp_path / "missing.csv")
