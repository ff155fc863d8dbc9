"""Schema inference, overrides, the exact round trip and the bad-value errors of table_schema."""

import logging

import numpy as np
import pandas as pd
import pytest

from vae_lab.data.column_kinds.categorical import count_jaggedness
from vae_lab.data.csv_file import read_csv_text
from vae_lab.data.table_schema import SchemaOptions, TableSchema, infer_schema
from vae_lab.errors import ConfigError, DataError


def csv_of(tmp_path, frame: pd.DataFrame, name: str = "table.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def infer(path, **options):
    table = read_csv_text(path)
    return table, infer_schema(table, np.arange(table.num_rows), SchemaOptions.of(**options), str(path))


def kinds(schema: TableSchema) -> dict[str, str]:
    return {column.name: column.kind for column in schema.columns}


def mixed_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Every kind of column, with missing cells, awkward labels and numbers of several precisions."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "height": np.round(rng.normal(170, 10, n), 1),
        "score": np.round(rng.normal(0, 1, n), 3),
        "visits": rng.poisson(30, n),
        "income": np.round(rng.lognormal(10, 1, n), 2),
        "wait": np.round(rng.exponential(5, n), 2),
        "city": rng.choice(["Paris", "Köln", "New York, NY", 'the "Big" one'], n),
        "rooms": rng.integers(1, 6, n),
        "smoker": rng.choice(["yes", "no"], n),
        "active": rng.choice(["true", "false"], n),
        "zip": rng.choice(["02134", "10001", "94105"], n),
        "flag": rng.integers(0, 2, n),
    })  # fmt: skip
    frame["height"] = frame["height"].astype(object).where(rng.random(n) > 0.1, None)
    frame["visits"] = pd.Series(frame["visits"], dtype="Int64").where(rng.random(n) > 0.1, pd.NA)
    frame["city"] = frame["city"].where(rng.random(n) > 0.1, None)
    return frame


def test_kinds_are_inferred_and_junk_is_dropped_with_a_warning(tmp_path, caplog):
    n = 200
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "row": np.arange(n),
        "population": 198712 + np.cumsum(rng.integers(150, 300, n)),  # all different, in order, but a measurement
        "uuid": [f"u{rng.integers(1e12)}-{i}" for i in range(n)],
        "version": "v1",
        "comment": [f"customer {i} said the product was fine" for i in range(n)],
        "day": [f"2024-01-{1 + i % 28:02d}" for i in range(n)],
        "amount": rng.normal(size=n).round(2),
        "colour": rng.choice(["red", "green", "blue"], n),
        "rooms": rng.integers(1, 5, n),
        "yes_no": rng.choice(["y", "n"], n),
        "zip": rng.choice(["02134", "10001", "94105"], n),
    })  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="vae_lab.data.table_schema"):
        _, schema = infer(csv_of(tmp_path, frame))
    assert kinds(schema) == {"population": "numeric", "day": "numeric", "amount": "numeric", "colour": "categorical", "rooms": "categorical",
                             "yes_no": "binary", "zip": "categorical"}  # fmt: skip
    assert schema.columns[-1].categories == ["02134", "10001", "94105"]  # codes with leading zeros stay text
    day = next(column for column in schema.columns if column.name == "day")
    assert day.format.type == "datetime" and day.format.unit == "D"  # dates are modelled
    assert set(schema.dropped) == {"row", "uuid", "version", "comment"}
    assert schema.dropped["row"].startswith("ID-like") and schema.dropped["uuid"].startswith("ID-like")
    assert schema.dropped["version"].startswith("constant (every value is 'v1')")
    assert schema.dropped["comment"].startswith("free text")
    warned = " ".join(record.getMessage() for record in caplog.records)
    for name in ("row", "uuid", "version", "comment"):
        assert f"column '{name}' of {tmp_path / 'table.csv'} is dropped" in warned


def test_overrides_set_kinds_target_and_drops(tmp_path):
    frame = mixed_frame(100)
    path = csv_of(tmp_path, frame)
    table, schema = infer(path, categorical=["visits"], numeric=["rooms"], drop=["zip", "flag"], target="city")
    assert kinds(schema)["visits"] == "categorical" and kinds(schema)["rooms"] == "numeric"
    assert "zip" not in kinds(schema) and schema.dropped["zip"] == "listed in data.drop"
    assert "city" not in kinds(schema) and schema.target.name == "city"
    labels = schema.transform(table, str(path)).y
    expected = frame["city"].map({c: i for i, c in enumerate(sorted(frame["city"].dropna().unique()))}).fillna(-1)
    assert labels.tolist() == expected.astype(int).tolist()
    with pytest.raises(ConfigError, match=r"data.categorical names 'colour', which is not a column of .*table.csv; its columns are: height"):
        infer(path, categorical=["colour"])
    with pytest.raises(ConfigError, match="column 'rooms' is in both data.categorical and data.drop"):
        SchemaOptions.of(categorical=["rooms"], drop=["rooms"])


def test_round_trip_is_exact_for_observed_cells(tmp_path):
    """inverse(transform(x)) == x: numbers to the last digit, integers as integers, labels, order, missing cells."""
    frame = mixed_frame()
    path = csv_of(tmp_path, frame)
    table, schema = infer(path, log=["income"], quantile=["wait"])
    assert schema.names == list(frame.columns)
    assert {c.name: c.transform for c in schema.columns if c.kind == "numeric"} == {
        "height": "standard", "score": "standard", "visits": "standard", "income": "log", "wait": "quantile"}  # fmt: skip
    expected = pd.DataFrame({
        "height": frame["height"].astype("float64"), "score": frame["score"], "visits": frame["visits"],
        "income": frame["income"], "wait": frame["wait"], "city": pd.array(frame["city"], dtype="string"),
        "rooms": pd.array(frame["rooms"], dtype="Int64"), "smoker": pd.array(frame["smoker"], dtype="string"),
        "active": pd.array(frame["active"], dtype="string"), "zip": pd.array(frame["zip"], dtype="string"),
        "flag": pd.array(frame["flag"], dtype="Int64"),
    })  # fmt: skip
    for dtype in (np.float64, np.float32):
        encoded = schema.transform(table, str(path), dtype=dtype)
        columns = [c for c in schema.columns if not (dtype == np.float32 and getattr(c, "transform", "standard") != "standard")]
        result = schema.inverse(encoded.x, encoded.mask)
        names = [c.name for c in columns]
        pd.testing.assert_frame_equal(result[names], expected[names], check_exact=True)
    assert encoded.x.dtype == np.float32 and encoded.x.shape == (len(frame), schema.width)
    assert encoded.missing[:, schema.names.index("height")].tolist() == frame["height"].isna().tolist()


def test_preprocessing_is_fitted_on_the_given_rows_only(tmp_path):
    frame = pd.DataFrame({"v": np.arange(100, dtype=float) * 1.5, "c": ["a"] * 50 + ["b"] * 30 + ["c"] * 20})
    table = read_csv_text(csv_of(tmp_path, frame))
    train = np.arange(0, 60)
    schema = infer_schema(table, train, SchemaOptions(), "t.csv")
    numeric, categorical = schema.columns
    assert numeric.mean == pytest.approx(frame["v"][:60].mean()) and numeric.std == pytest.approx(frame["v"][:60].std(ddof=0))
    assert categorical.categories == ["a", "b"] and categorical.frequencies == pytest.approx([50 / 60, 10 / 60])
    encoded = schema.transform(table, "t.csv")
    assert encoded.x[:60, 0].mean() == pytest.approx(0, abs=1e-6) and encoded.x[:60, 0].std() == pytest.approx(1, abs=1e-5)


def test_without_standardization_numbers_enter_the_model_as_they_are(tmp_path):
    frame = pd.DataFrame({"v": np.arange(100, dtype=float) * 1.5 + 1000, "c": ["a"] * 50 + ["b"] * 50})
    path = csv_of(tmp_path, frame)
    table, schema = infer(path, standardize=False)
    encoded = schema.transform(table, str(path), dtype=np.float64)
    assert encoded.x[:, 0].tolist() == frame["v"].tolist()
    pd.testing.assert_series_equal(schema.inverse(encoded.x)["v"], frame["v"], check_exact=True)
    with pytest.raises(ConfigError, match="data.standardize must be true or false"):
        SchemaOptions(standardize="no")


def test_missing_cells_are_masked_and_fed_to_the_encoder_as_training_means(tmp_path):
    frame = pd.DataFrame({"v": [1.0, 2.0, None, 4.0], "c": ["a", None, "b", "c"], "b": ["y", "n", "y", None]})
    path = csv_of(tmp_path, frame)
    table, schema = infer(path, generate_missing=False)
    encoded = schema.transform(table, str(path))
    # slots: v | c=a, c=b, c=c | b (n=0, y=1)
    assert encoded.mask.tolist() == [[True] * 5, [True, False, False, False, True], [False, True, True, True, True], [True] * 4 + [False]]
    assert encoded.x[2, 0] == 0.0  # the mean after standardization
    assert encoded.x[1, 1:4].tolist() == pytest.approx([1 / 3] * 3)  # category frequencies
    assert encoded.x[3, 4] == pytest.approx(2 / 3)  # frequency of "y"


def test_a_column_with_missing_training_cells_gets_a_missing_state(tmp_path):
    """The missingness indicator follows the value slots, 1 where the cell is missing and always observed; generated rows
    whose indicator is set come back missing (``generated_mask``)."""
    frame = pd.DataFrame({"v": [1.0, 2.0, None, 4.0], "c": ["a", None, "b", "c"], "d": ["x", "y", "y", "x"]})
    path = csv_of(tmp_path, frame)
    table, schema = infer(path)
    assert [column.missing_share for column in schema.columns] == [0.25, 0.25, 0.0]
    assert [(entry["width"], entry["missing"]) for entry in schema.layout()] == [(2, True), (4, True), (1, False)]
    encoded = schema.transform(table, str(path))
    # slots: v, missing | c=a, c=b, c=c, missing | d (x=0, y=1)
    assert encoded.x[:, [1, 5]].tolist() == [[0, 0], [0, 1], [1, 0], [0, 0]]
    assert encoded.mask.tolist() == [[True] * 7, [True, True, False, False, False, True, True], [False] + [True] * 6, [True] * 7]
    generated = encoded.x.copy()
    generated[:, [1, 5]] = [[0.9, 0.1], [0.2, 0.7], [0.4, 0.6], [0.0, 0.0]]  # a draw's 0/1, or E[x|z]'s probabilities
    decoded = schema.inverse(generated, schema.generated_mask(generated))
    assert decoded["v"].isna().tolist() == [True, False, False, False] and decoded["c"].isna().tolist() == [False, True, True, False]
    assert decoded["d"].notna().all() and schema.inverse(generated).notna().all().all()  # without the mask every cell has a value


def test_slot_means_are_the_training_rows_share_of_each_category_mass_and_missing_state(tmp_path):
    """What ``sample.calibrate`` calibrates to, kept in the checkpoint: per choice slot (a category, a 0/1 value, a
    point mass, the continuous part) and missing indicator, the mean of the encoded training rows where observed."""
    frame = mixed_frame()
    frame["spend"] = np.where(np.random.default_rng(1).random(len(frame)) < 0.4, 0.0, np.round(np.random.default_rng(2).gamma(2, 30, len(frame)), 2))
    path = csv_of(tmp_path, frame)
    table, schema = infer(path)
    assert {"categorical", "binary", "point_mass"} <= set(kinds(schema).values()) and any(column.generates_missing for column in schema.columns)
    encoded = schema.transform(table, str(path), dtype=np.float64)
    observed_means = np.ma.masked_array(encoded.x, ~encoded.mask).mean(axis=0).filled(np.nan)
    slot_means = schema.slot_means()
    assert slot_means.shape == (schema.width,)
    numbers = [start for column, start in zip(schema.columns, schema.starts) if column.kind in ("numeric", "point_mass")]
    choices = np.setdiff1d(np.arange(schema.width), numbers)
    assert slot_means[choices] == pytest.approx(observed_means[choices])


def test_a_schema_saved_without_missing_states_loads_as_before(tmp_path):
    """Checkpoints from before the missing state: no indicator slot, and missing cells are masked as they were."""
    frame = pd.DataFrame({"v": [1.0, 2.0, None, 4.0], "c": ["a", None, "b", "c"]})
    path = csv_of(tmp_path, frame)
    table, schema = infer(path)
    state = schema.state_dict()
    for column in state["columns"]:
        del column["missing_share"]
    restored = TableSchema.from_state_dict(state)
    _, without = infer(path, generate_missing=False)
    assert restored.width == without.width == 4 and restored.layout() == without.layout()
    old, new = restored.transform(table, str(path)), without.transform(table, str(path))
    assert np.array_equal(old.x, new.x) and np.array_equal(old.mask, new.mask)
    assert restored.generated_mask(old.x).all()


def test_unseen_categories_become_the_unknown_category_with_a_warning(tmp_path, caplog):
    train_path = csv_of(tmp_path, pd.DataFrame({"c": ["a", "b", "c"] * 10, "v": np.arange(30.0)}))
    _, schema = infer(train_path)
    new = read_csv_text(csv_of(tmp_path, pd.DataFrame({"c": ["a", "teal", "mauve", "teal"], "v": [1.0] * 4}), "new.csv"))
    with caplog.at_level(logging.WARNING):
        encoded = schema.transform(new, "new.csv")
    message = caplog.records[-1].getMessage()
    assert "column 'c' of new.csv: 3 cell(s) hold values never seen in training ('teal', 'mauve')" in message
    assert "unknown category" in message
    assert encoded.mask[:, :3].tolist() == [[True] * 3] + [[False] * 3] * 3
    assert encoded.x[1, :3].tolist() == pytest.approx([1 / 3] * 3)


def test_other_numbers_in_an_integer_column_are_read_as_numbers_with_a_warning(tmp_path, caplog):
    """A mean filled into one cell of a column of integers (R's Hdma, `ccs`): a column of numbers takes it as it is,
    a column of integer labels as unknown; nothing is refused."""
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"amount": rng.integers(0, 1000, 200), "level": rng.integers(1, 7, 200)})
    _, schema = infer(csv_of(tmp_path, train))
    assert kinds(schema) == {"amount": "numeric", "level": "categorical"}
    new = read_csv_text(csv_of(tmp_path, pd.DataFrame({"amount": ["12", "500.5"], "level": ["2", "2.116"]}), "new.csv"))
    with caplog.at_level(logging.WARNING):
        encoded = schema.transform(new, "new.csv")
    messages = [record.getMessage() for record in caplog.records]
    assert any("column 'amount' of new.csv held integers in training but has other numbers here (e.g. '500.5' on line 3)" in m for m in messages)
    assert any("column 'level' of new.csv: 1 cell(s) hold values never seen in training ('2.116')" in m for m in messages)
    amount = schema.columns[0]
    assert encoded.x[:, 0].tolist() == pytest.approx(amount.forward(np.asarray([12.0, 500.5])).tolist(), abs=1e-5)
    assert encoded.mask is not None and encoded.mask[0].all() and not encoded.mask[1, 1:].any()


@pytest.mark.parametrize(
    "column, message",
    [
        ([1.5, float("inf"), 2.0, 3.0], r"column 'v' of .*bad.csv has infinite values \('inf' on line 3\)"),
        (
            ["1.5"] * 18 + ["n.a.", "?"],
            r"column 'v' of .*bad.csv holds numbers but 2 cell\(s\) are not numbers: 'n.a.' on line 20, "
            r"'\?' on line 21; .*data.na_values=\['n.a.'\].*data.categorical=\[v\]",
        ),
    ],
    ids=["infinite", "stray-text"],
)
def test_bad_values_name_the_column_and_line(tmp_path, column, message):
    frame = pd.DataFrame({"v": column, "w": np.arange(len(column), dtype=float) * 0.5})
    with pytest.raises(DataError, match=message):
        infer(csv_of(tmp_path, frame, "bad.csv"))


def test_numbers_with_a_few_codes_of_letters_and_digits_are_labels_with_a_warning(tmp_path, caplog):
    """Real subject and station codes ('207a' beside 207, 'c168' beside 117: car::Blackmoor, datasets::attenu) make the
    column text, not a refused file; data.numeric still reads it as numbers, naming the codes."""
    frame = pd.DataFrame({"station": [str(i % 8) for i in range(38)] + ["c168", "207a"], "w": np.arange(40, dtype=float) * 0.5})
    path = csv_of(tmp_path, frame, "codes.csv")
    with caplog.at_level(logging.WARNING):
        _, schema = infer(path)
    assert kinds(schema)["station"] == "categorical" and {"c168", "207a"} <= set(schema.columns[0].categories)
    assert "station' of" in caplog.text and "2 code(s) of letters and digits such as 'c168'" in caplog.text
    with pytest.raises(DataError, match=r"column 'station' of .*holds numbers but 2 cell\(s\) are not numbers: 'c168' on line 40"):
        infer(path, numeric=["station"])


def test_a_column_without_any_value_is_dropped_with_a_warning(tmp_path, caplog):
    frame = pd.DataFrame({"v": [None] * 20, "w": np.arange(20, dtype=float) * 0.5})
    with caplog.at_level(logging.WARNING, logger="vae_lab.data.table_schema"):
        _, schema = infer(csv_of(tmp_path, frame, "wide.csv"))
    assert schema.names == ["w"] and schema.dropped == {"v": "empty (every cell is missing)"}
    assert "column 'v' of" in caplog.text and "is dropped: empty (every cell is missing)" in caplog.text
    with pytest.raises(DataError, match=r"column 'v' of .*wide.csv is empty \(every cell is missing\), but the config names it"):
        infer(csv_of(tmp_path, frame, "wide.csv"), numeric=["v"])


def test_a_table_with_no_usable_column_says_why(tmp_path):
    frame = pd.DataFrame({"id": [f"x{i}" for i in range(20)], "constant": [7] * 20})
    with pytest.raises(DataError, match=r"no column left to model \('id': ID-like.*; 'constant': constant .*data.categorical"):
        infer(csv_of(tmp_path, frame))


def test_stray_text_in_a_fitted_numeric_column_is_named_at_transform_time(tmp_path):
    _, schema = infer(csv_of(tmp_path, pd.DataFrame({"v": np.arange(20) * 0.5, "c": ["a", "b"] * 10})))
    new = read_csv_text(csv_of(tmp_path, pd.DataFrame({"v": ["1.0", "oops"], "c": ["a", "b"]}), "new.csv"))
    with pytest.raises(DataError, match=r"column 'v' of new.csv holds numbers but 1 cell\(s\) are not numbers: 'oops' on line 3"):
        schema.transform(new, "new.csv")
    with pytest.raises(DataError, match=r"new.csv lacks the column\(s\) 'c'"):
        schema.transform(read_csv_text(csv_of(tmp_path, pd.DataFrame({"v": [1.0]}), "new.csv")), "new.csv")


def test_the_schema_survives_its_state_dict(tmp_path):
    path = csv_of(tmp_path, mixed_frame(100))
    table, schema = infer(path, quantile=["wait"], target="smoker")
    restored = TableSchema.from_state_dict(schema.state_dict())
    assert restored.state_dict() == schema.state_dict()
    first, again = schema.transform(table, "t"), restored.transform(table, "t")
    assert np.array_equal(first.x, again.x) and np.array_equal(first.mask, again.mask) and np.array_equal(first.y, again.y)


def test_skewed_columns_get_the_chosen_transform(tmp_path):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"income": np.round(rng.lognormal(10, 1, 500), 2), "height": np.round(rng.normal(170, 10, 500), 1)})
    path = csv_of(tmp_path, frame)
    transforms = {c.name: c.transform for c in infer(path)[1].columns}
    assert transforms == {"income": "quantile", "height": "standard"}  # |skewness| of a log-normal(10, 1): about 6
    assert {c.name: c.transform for c in infer(path, skewed="log")[1].columns}["income"] == "log"
    assert {c.name: c.transform for c in infer(path, skewed=None)[1].columns}["income"] == "standard"
    table, schema = infer(path)
    encoded = schema.transform(table, str(path), dtype=np.float64)
    income = encoded.x[:, 0]
    assert abs(float(pd.Series(income).skew())) < 0.1  # normal scores
    pd.testing.assert_frame_equal(schema.inverse(encoded.x), frame, check_exact=True)


def test_with_threshold_0_every_number_goes_through_its_quantiles_but_dates_keep_their_calendar(tmp_path):
    """experiment=tabular's setting: a near-Gaussian height is quantile-transformed too; a date, skewed or not, is a time
    index and stays standardized; files still read back exactly."""
    rng = np.random.default_rng(3)
    days = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.sort(rng.exponential(30, 400)).round(), unit="D")  # skewed dates
    frame = pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "height": np.round(rng.normal(170, 10, 400), 1)})
    path = csv_of(tmp_path, frame)
    assert abs(float(pd.Series(days.asi8).skew())) > 1
    table, schema = infer(path, skew_threshold=0)
    assert {c.name: c.transform for c in schema.columns} == {"day": "standard", "height": "quantile"}
    pd.testing.assert_frame_equal(schema.inverse(schema.transform(table, str(path), dtype=np.float64).x), frame, check_exact=True, check_dtype=False)


def test_integer_codes_modelled_as_amounts_say_so_with_the_override(tmp_path, caplog):
    """A state code (50 integer values over 300 rows) cannot be told from an amount: the schema line says what was guessed."""
    rng = np.random.default_rng(0)
    path = csv_of(tmp_path, pd.DataFrame({"state": rng.integers(1, 51, 300), "income": rng.normal(50, 10, 300).round(2)}))
    with caplog.at_level("INFO", logger="vae_lab.data.table_schema"):
        _, schema = infer(path)
    state = next(column for column in schema.columns if column.name == "state")
    assert state.kind == "numeric" and "data.categorical=[state]" in state.guess
    assert "[guessed: an amount; if its 50 integer values are codes (states, regions), data.categorical=[state]]" in caplog.text
    assert not next(column for column in schema.columns if column.name == "income").guess


def test_integer_codes_whose_counts_jump_between_neighbours_are_labels_and_the_schema_line_says_so(tmp_path, caplog):
    """A state code whose shares follow the states' sizes, not their codes (51 of 1..56, as FIPS codes skip some), is
    categorical; an age of as many values with smooth counts stays an amount; data.numeric=[state] makes it one."""
    rng = np.random.default_rng(0)
    codes = np.setdiff1d(np.arange(1, 57), [3, 7, 14, 43, 52])
    sizes = rng.lognormal(0, 1.2, len(codes))
    frame = pd.DataFrame({"state": rng.choice(codes, 3000, p=sizes / sizes.sum()), "age": np.clip(rng.normal(45, 9, 3000).round(), 20, 67).astype(int)})
    path = csv_of(tmp_path, frame)
    with caplog.at_level("INFO", logger="vae_lab.data.table_schema"):
        _, schema = infer(path)
    assert kinds(schema) == {"state": "categorical", "age": "numeric"}
    assert "[guessed: codes, as their counts jump between neighbouring values; if its 51 integers are amounts, data.numeric=[state]]" in caplog.text
    assert kinds(infer(path, numeric=["state"])[1])["state"] == "numeric"


def test_counts_of_a_smooth_distribution_are_as_jagged_as_poisson_noise_alone():
    """count_jaggedness is about 1 for Poisson counts around a smooth curve (its unit is that noise's variance)."""
    rng = np.random.default_rng(1)
    smooth = 300 * np.exp(-0.5 * np.linspace(-2, 2, 2000) ** 2)
    assert count_jaggedness(rng.poisson(smooth)) == pytest.approx(1.0, abs=0.1)
    assert count_jaggedness(np.tile([10, 200], 20)) > 100  # alternating shares: codes
    assert count_jaggedness(np.array([5, 9])) == 0.0


def test_heaps_of_a_measurement_are_point_masses_and_a_smooth_columns_busiest_value_is_not(tmp_path):
    """A debt ratio written as 0.36 by most rows and as 0.3612 by the others (R's Hdma): each heap is a mass, far
    beyond what Poisson noise gives a value. Ages of 2,000 people: their busiest value is chance, and stays numeric."""
    rng = np.random.default_rng(0)
    n = 2000
    ratio = rng.normal(0.33, 0.08, n)
    written = np.where(rng.random(n) < 0.6, np.round(ratio, 2), np.round(ratio, 4))
    _, schema = infer(csv_of(tmp_path, pd.DataFrame({"ratio": written})), point_mass_share=0.01)
    assert kinds(schema) == {"ratio": "point_mass"}
    ratio_column = schema.columns[0]
    heaps = np.round(np.arange(0.25, 0.42, 0.01), 2)  # within one sd of the mean: each holds 1.5 to 3% of the rows
    assert set(heaps) <= set(np.round(ratio_column.masses, 2))
    assert ratio_column.shares[-1] > 0.4  # the precise values are its continuous part
    assert f"{len(ratio_column.masses)} in all with" in ratio_column.describe()
    ages = np.repeat(np.arange(20, 80), 10)
    ages = np.r_[ages, np.full(10, 62)]  # 20 people aged 62, twice either neighbour: Poisson noise gives that 1 time in 300
    _, schema = infer(csv_of(tmp_path, pd.DataFrame({"age": ages, "height": rng.normal(170, 10, len(ages))}), "ages.csv"), point_mass_share=0.01)
    assert kinds(schema) == {"age": "numeric", "height": "numeric"}


def test_numbers_whose_few_values_repeat_are_generated_on_those_values(tmp_path):
    """24 income brackets over 600 rows (25 rows a value; the lowest common, the highest rare): generated numbers move to
    a training value, the file's values come back exactly; a measured number of many values, or snap_repeats=null,
    keeps every number."""
    rng = np.random.default_rng(0)
    brackets = np.sort(rng.choice(np.arange(5, 200), 24, replace=False))
    incomes = np.r_[rng.choice(brackets[1:-1], 561), np.full(36, brackets[0]), np.full(3, brackets[-1])]  # 36: no mass
    frame = pd.DataFrame({"income": rng.permutation(incomes), "height": np.round(rng.normal(170, 10, 600), 1)})
    path = csv_of(tmp_path, frame)
    table, schema = infer(path)
    income, height = schema.columns
    assert income.kind == height.kind == "numeric"
    assert income.support == sorted(float(v) for v in set(frame["income"])) and height.support == []
    assert "on its 24 values" in schema.describe()
    encoded = schema.transform(table, "t")
    assert schema.inverse(encoded.x)["income"].astype(int).tolist() == frame["income"].tolist()  # the exact round trip

    between = np.linspace(income.forward(np.array([brackets[0]]))[0], income.forward(np.array([brackets[-1]]))[0], 500)
    decoded = income.decode_generated(between[:, None])
    plain = income.decode(between[:, None])
    inside = (plain >= brackets[0]) & (plain <= brackets[-2])
    assert set(decoded[inside]) == set(brackets[:-1].astype(float))  # the gap of a common end value is snapped
    assert len(set(decoded[plain > brackets[-2]])) > 1  # a rare end value's gap (a tail) keeps its numbers
    assert len(set(income.decode(between[:, None]))) > 24  # real rows decode exactly: a value training never saw stays
    shares = frame["income"].value_counts(normalize=True).sort_index().to_numpy()
    numbers = income.decode(between[:, None])  # the numbers, rounded as written, before they are moved
    low = np.searchsorted(brackets, numbers, side="right") - 1  # the bracket at or below each number, and the next one
    high = np.minimum(low + 1, 23)
    gap_share = (numbers - brackets[low]) / np.maximum(brackets[high] - brackets[low], 1e-12)
    by_hand = np.where(gap_share > shares[low] / (shares[low] + shares[high]), brackets[high], brackets[low])
    by_hand = np.where((numbers >= brackets[0]) & (numbers <= brackets[-2]), by_hand, numbers)
    assert decoded.tolist() == by_hand.astype(float).tolist()  # the gap divided by the two values' shares

    _, unsnapped = infer(path, snap_repeats=None)
    assert unsnapped.columns[0].support == []
    with pytest.raises(ConfigError, match="data.snap_repeats must be above 0"):
        SchemaOptions(snap_repeats=0)
