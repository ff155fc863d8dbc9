"""Columns that are a function of one or two others in every training row keep that function in generated rows."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY, compose_train

import vae_lab
from vae_lab.api import fit
from vae_lab.data.column_rules import CHANCE, MonotoneColumn, by_chance, find_determined_columns
from vae_lab.data.table_files import read_table_text
from vae_lab.data.table_schema import SchemaOptions, infer_schema

TABLE = [*TINY, "experiment=tabular", "data.min_epoch_rows=0", "logger=csv", "callbacks=default", "trainer.max_epochs=3"]


def decoded(frame: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A frame as TableSchema.decoded gives rows: values (labels as objects) and observed masks."""
    return {
        name: (frame[name].to_numpy(dtype=np.float64 if pd.api.types.is_numeric_dtype(frame[name]) else object), frame[name].notna().to_numpy())
        for name in frame.columns
    }


def benefits_like(rows: int, seed: int) -> pd.DataFrame:
    """People displaced in a state and a year: the state's unemployment rate and maximum benefit that year are the same
    for everyone displaced there and then (as in the displaced-workers survey of Ecdat's Benefits), their age is not."""
    rng = np.random.default_rng(seed)
    states, years = rng.choice([11, 23, 42, 55, 74, 93], rows), rng.integers(1, 6, rows)
    rate = {(s, y): round(float(r), 1) for s in (11, 23, 42, 55, 74, 93) for y in range(1, 6) for r in [rng.uniform(3, 12)]}
    benefit = {key: int(rng.integers(150, 300)) for key in rate}
    return pd.DataFrame({
        "state": states, "year": years,
        "rate": [rate[key] for key in zip(states, years)],
        "benefit": [benefit[key] for key in zip(states, years)],
        "age": rng.integers(20, 60, rows),
        "region": np.where(states < 50, "north", "south"),
    })  # fmt: skip


def test_rules_are_found_with_their_determinants_and_chance_rejects_coincidences():
    frame = benefits_like(600, seed=0)
    rules = {rule.column: rule for rule in find_determined_columns(decoded(frame))}
    assert {name: rule.by for name, rule in rules.items()} == {"region": ["state"], "rate": ["state", "year"], "benefit": ["state", "year"]}
    assert rules["rate"].groups == frame.groupby(["state", "year"]).ngroups
    assert "age" not in rules and "year" not in rules

    few = frame.head(12).assign(flag=["a"] * 11 + ["b"])  # nearly constant: one value per state by accident
    assert not [rule for rule in find_determined_columns(decoded(few[["state", "flag"]]))]
    sizes = few.groupby("state").size().to_numpy()
    shares = np.array([11, 1]) / 12
    assert by_chance(np.array([0] * 11 + [1]), sizes) == pytest.approx(math.prod((shares**n).sum() for n in sizes))
    assert by_chance(np.array([0] * 11 + [1]), sizes) > CHANCE


def test_generated_rows_take_the_value_of_a_seen_combination_and_keep_others():
    frame = benefits_like(600, seed=0)
    frame.loc[(frame.state == 11) & (frame.year == 1), "benefit"] = np.nan  # a combination whose benefit is missing
    rule = next(rule for rule in find_determined_columns(decoded(frame)) if rule.column == "benefit")
    generated = pd.DataFrame({"state": [11.0, 23.0, 99.0, 23.0], "year": [1.0, 2.0, 2.0, np.nan], "benefit": [1.0, 2.0, 3.0, 4.0]})
    rows = decoded(generated)
    rule.apply(rows)
    values, observed = rows["benefit"]
    expected = frame.loc[(frame.state == 23) & (frame.year == 2), "benefit"].iloc[0]
    assert list(observed) == [True, True, True, True] and values[0] == 1.0  # that combination's benefit is missing: as drawn
    assert values[1] == expected and values[2] == 3.0 and values[3] == 4.0  # an unseen state, a missing year: as drawn


def wages(rows: int, seed: int) -> pd.DataFrame:
    """Hourly wages in cents, heaped on round numbers, with their logarithm (5 decimals), both missing for people who do
    not work (as in Card's Schooling table), and a noisy measurement that follows the wage without being a function of it."""
    rng = np.random.default_rng(seed)
    wage = np.where(rng.random(rows) < 0.4, rng.choice([300, 400, 500], rows), rng.integers(150, 1500, rows)).astype(float)
    wage[rng.random(rows) < 0.2] = np.nan
    return pd.DataFrame({"wage": wage, "log_wage": np.round(np.log(wage), 5), "hours": np.round(wage / 10 + rng.normal(0, 3, rows), 1)})


def test_a_number_that_is_a_monotone_function_of_another_is_a_rule_and_generated_rows_keep_it():
    frame = wages(500, seed=0)
    (rule,) = find_determined_columns(decoded(frame))
    assert isinstance(rule, MonotoneColumn) and (rule.column, rule.of) == ("log_wage", "wage")  # wage: the earlier, on a tie
    generated = decoded(pd.DataFrame({"wage": [300.0, 1234.0, np.nan, 999.5], "log_wage": [1.0, 2.0, 3.0, 4.0], "hours": [0.0] * 4}))
    rule.apply(generated)
    values, observed = generated["log_wage"]
    training = dict(zip(frame.wage, frame.log_wage))
    assert values[0] == training[300.0] and list(observed) == [True, True, False, True]  # missing where the wage is
    assert values[1] == pytest.approx(np.log(1234.0), abs=1e-3) and values[3] == pytest.approx(np.log(999.5), abs=1e-3)
    assert find_determined_columns(decoded(frame.assign(log_wage=frame.log_wage + np.where(frame.index == 7, 1.0, 0.0)))) == []  # one row out of order


def test_a_trained_table_samples_rows_that_keep_the_rules_and_loads_them_again(tmp_path):
    path = tmp_path / "benefits.csv"
    benefits_like(600, seed=0).join(wages(600, seed=1)).to_csv(path, index=False)
    torch.manual_seed(0)
    results = fit(compose_train([*TABLE, f"data.path={path}"], tmp_path / "run"))
    run = vae_lab.load_run(results["run_dir"])
    assert {rule.column for rule in run.datamodule.fitted_schema().determined} == {"region", "rate", "benefit", "log_wage"}
    real = pd.read_csv(path)
    truth = real.groupby(["state", "year"])[["rate", "benefit"]].first()
    synthetic = run.sample_table(400, seed=0)
    seen = synthetic.set_index(["state", "year"]).index.isin(truth.index)
    assert seen.mean() > 0.9
    kept = synthetic[seen].join(truth, on=["state", "year"], rsuffix="_rule")
    assert (kept.rate == kept.rate_rule).all() and (kept.benefit == kept.benefit_rule).all()
    assert (synthetic.region == np.where(synthetic.state < 50, "north", "south")).all()
    working = synthetic.dropna(subset=["wage"]).sort_values("wage")
    assert synthetic.log_wage.isna().equals(synthetic.wage.isna()) and working.log_wage.is_monotonic_increasing
    heaped = working[working.wage.isin([300, 400, 500])]
    assert len(heaped) and (heaped.log_wage == np.round(np.log(heaped.wage), 5)).all()

    free = fit(compose_train([*TABLE, f"data.path={path}", "data.determined_columns=false"], tmp_path / "free"))
    free_run = vae_lab.load_run(free["run_dir"])
    assert free_run.datamodule.fitted_schema().determined == []
    drawn = free_run.sample_table(400, seed=0).join(truth, on=["state", "year"], rsuffix="_rule")
    assert (drawn.rate != drawn.rate_rule).mean() > 0.5  # without the rule a model of 3 epochs breaks it


def test_a_label_longer_than_the_drawn_ones_is_written_whole():
    frame = pd.DataFrame({"code": [1, 2] * 30, "city": ["Oslo", "Stockholm"] * 30})
    (rule,) = find_determined_columns(decoded(frame))
    rows = {"code": (np.array([2.0, 1.0]), np.ones(2, dtype=bool)), "city": (np.array(["Oslo", "Oslo"]), np.ones(2, dtype=bool))}
    rule.apply(rows)
    assert list(rows["city"][0]) == ["Stockholm", "Oslo"]


def test_a_number_that_fixes_others_is_generated_on_its_training_values_so_that_its_rules_apply(tmp_path):
    """A panel of counties (as plm's Crime: 90 county codes, each county's share of minorities the same every year):
    the codes are numbers with too many values for a label and too few repeats to snap, so generated counties fell
    between the codes and the rule never applied. A determinant is generated on its training values."""
    rng = np.random.default_rng(0)
    counties = np.arange(1, 80, 2)  # 40 odd codes, each in 4 years
    minority = dict(zip(counties, np.round(rng.uniform(1, 60, len(counties)), 4)))
    county = np.repeat(counties, 4)
    frame = pd.DataFrame({"county": county, "minority": [minority[c] for c in county], "crime": np.round(rng.lognormal(0, 1, len(county)), 5)})
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    table = read_table_text(path)
    schema = infer_schema(table, np.arange(table.num_rows), SchemaOptions.of(), str(path))
    (rule,) = schema.determined
    assert (rule.column, rule.by) == ("minority", ["county"])
    assert schema.columns[0].kind == "numeric" and schema.columns[0].support == counties.tolist()

    x = np.random.default_rng(1).normal(0, 1.5, (500, schema.width))  # any model rows: draws of a model,
    x[:, 0] = np.random.default_rng(2).uniform(*schema.columns[0].bounds(), 500)  # in the range its likelihood keeps to
    generated = schema.inverse(x, generated=True)
    assert set(generated["county"]) <= set(counties)
    assert (generated["minority"] == generated["county"].map(minority)).all()
