"""Column Shapes and Column Pair Trends (``vae_lab.evaluation.sdmetrics_scores``) equal sdmetrics' own numbers.

The expected numbers in ``fixtures/sdmetrics_scores.json`` were computed by sdmetrics 0.32.0 (pandas 2.3.3, in a
virtual environment of its own, since sdmetrics pins pandas < 3) by ``fixtures/make_sdmetrics_scores.py``, which
also drew the two tables (30 real rows, 40 synthetic: numbers with missing cells, labels with missing cells and one
value the real rows lack, booleans, dates) and stored them in the same file. Nothing here is computed by hand;
regenerate with ``/tmp/sdm/bin/python tests/evaluation/fixtures/make_sdmetrics_scores.py``.
"""

import json
from pathlib import Path

import pandas as pd
import pytest

from vae_lab.data.cell_values import INT, TEXT, ValueFormat
from vae_lab.data.column_kinds import BinaryColumn, CategoricalColumn, NumericColumn, PointMassColumn
from vae_lab.evaluation.sdmetrics_scores import (
    column_pair_trends,
    column_shapes,
    contingency_similarity,
    correlation_similarity,
    ks_complement,
    sdtypes_of,
    tv_complement,
)

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "sdmetrics_scores.json").read_text())


def frame(records: dict[str, list]) -> pd.DataFrame:
    table = pd.DataFrame(records)
    return table.assign(day=pd.to_datetime(table["day"]), w=table["w"].astype("float64"))


REAL, SYNTHETIC = frame(FIXTURE["real"]), frame(FIXTURE["synthetic"])


def test_column_shapes_equal_sdmetrics():
    shapes = column_shapes(REAL, SYNTHETIC, FIXTURE["sdtypes"])
    assert shapes["score"] == pytest.approx(FIXTURE["column_shapes"], abs=1e-9)
    assert shapes["columns"] == pytest.approx(FIXTURE["column_shapes_details"], abs=1e-9)


def test_column_pair_trends_equal_sdmetrics():
    trends = column_pair_trends(REAL, SYNTHETIC, FIXTURE["sdtypes"])
    assert trends["score"] == pytest.approx(FIXTURE["column_pair_trends"], abs=1e-9)
    ours = {(pair["column_1"], pair["column_2"]): (pair["metric"], pair["score"]) for pair in trends["pairs"]}
    theirs = {(pair["column_1"], pair["column_2"]): (pair["metric"], pair["score"]) for pair in FIXTURE["column_pair_trends_details"]}
    assert ours.keys() == theirs.keys()
    for key, (metric, score) in theirs.items():
        assert ours[key][0] == metric, key
        assert ours[key][1] == pytest.approx(score, abs=1e-9), key


def test_single_metrics_equal_sdmetrics():
    expected = FIXTURE["single_metrics"]
    assert ks_complement(REAL["x"], SYNTHETIC["x"]) == pytest.approx(expected["ks_complement_x"], abs=1e-9)
    assert ks_complement(REAL["w"], SYNTHETIC["w"]) == pytest.approx(expected["ks_complement_w"], abs=1e-9)
    assert ks_complement(REAL["day"], SYNTHETIC["day"]) == pytest.approx(expected["ks_complement_day"], abs=1e-9)
    assert tv_complement(REAL["colour"], SYNTHETIC["colour"]) == pytest.approx(expected["tv_complement_colour"], abs=1e-9)
    assert correlation_similarity(REAL[["x", "y"]], SYNTHETIC[["x", "y"]]) == pytest.approx(expected["correlation_similarity_x_y"], abs=1e-9)
    pair = ["colour", "flag"]
    assert contingency_similarity(REAL[pair], SYNTHETIC[pair]) == pytest.approx(expected["contingency_similarity_colour_flag"], abs=1e-9)


def test_sdtypes_of_vae_lab_kinds():
    integers, text = ValueFormat(INT), ValueFormat(TEXT)
    columns = [NumericColumn("a", integers), PointMassColumn("b", integers, masses=[0.0]), BinaryColumn("c", text), CategoricalColumn("d", integers)]
    assert sdtypes_of(columns) == {"a": "numerical", "b": "numerical", "c": "boolean", "d": "categorical"}
