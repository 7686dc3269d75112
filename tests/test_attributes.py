"""Customer attributes with the Python API (clvmodels.attributes): read_attributes types
the file's ids like the customers they are matched to, encode_attributes turns
covariate names into the columns the models read.

The ids are checked against the strings and integers written to the files; the
encoded columns against ``one_hot`` of the attributes as written and against
``channel == level`` computed here; the round trip against what the command line
(``clvmodels fit/predict --attributes``) fits and writes on the same files.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import clvmodels
from clvmodels import (BetaGeoModel, DataError, GammaGammaModel, encode_attributes,
                       join_attributes, one_hot, read_attributes, rfm_summary)
from clvmodels.backtest import covariate_models, default_models
from clvmodels.cli import app
from clvmodels.data import customer_ids
from clvmodels.export import predict_clv

from channel_logs import two_channel_log

N = 250  # customers of each kind


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A log of web buyers (alpha 2) and shop buyers (alpha 8) with zero-padded text ids
    (CSV) and integer ids (Parquet), and their attributes written both ways."""
    folder = tmp_path_factory.mktemp("attributes_api")
    log = two_channel_log(N, 52, seeds=(11, 12), shuffle=False)
    log.attrs = {}
    log.assign(customer_id=log["customer_id"].map("{:04d}".format)).to_csv(
        folder / "log.csv", index=False)
    log.to_parquet(folder / "log.parquet", index=False)
    ids = np.arange(2 * N)
    attributes = pd.DataFrame({
        "customer_id": ids, "channel": np.where(ids < N, "web", "shop"),
        "age": np.round(np.random.default_rng(5).normal(size=2 * N), 3)})
    attributes.to_parquet(folder / "attributes.parquet", index=False)
    attributes.assign(customer_id=attributes["customer_id"].map("{:04d}".format)).to_csv(
        folder / "attributes.csv", index=False)
    return folder, log, attributes


def summary_of(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rfm_summary(path, "customer_id", "date", "amount", time_unit="W")


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- ids


def test_zero_padded_text_ids_of_a_csv_match_the_csv_log(files):
    folder, log, attributes = files
    summary = summary_of(folder / "log.csv")
    read = read_attributes(folder / "attributes.csv", "customer_id", like=summary)
    padded = [f"{i:04d}" for i in attributes["customer_id"]]
    assert read.index.tolist() == padded and read.index.name == "customer_id"
    assert read["channel"].tolist() == attributes["channel"].tolist()
    # pandas alone turns "0007" into 7, which matches none of the log's ids.
    plain = pd.read_csv(folder / "attributes.csv").set_index("customer_id")
    with pytest.raises(DataError, match="no row of attributes"):
        join_attributes(summary, plain)
    joined = join_attributes(summary, read)
    assert joined.loc["0007", "channel"] == "web" and joined.loc[f"{N + 3:04d}",
                                                                 "channel"] == "shop"


def test_integer_ids_of_a_parquet_file_match_integer_log_ids(files):
    folder, log, attributes = files
    summary = summary_of(folder / "log.parquet")
    assert pd.api.types.is_integer_dtype(summary.index)
    read = read_attributes(folder / "attributes.parquet", "customer_id", like=summary)
    assert read.index.tolist() == attributes["customer_id"].tolist()
    assert pd.api.types.is_integer_dtype(read.index)
    # The same customers from the CSV ("0007"): integers too, because the log's are.
    from_csv = read_attributes(folder / "attributes.csv", "customer_id", like=summary)
    assert from_csv.index.tolist() == attributes["customer_id"].tolist()
    assert "read as integers" in from_csv.attrs["id_note"]
    # Matched to text ids, the Parquet file's integers become text (7 is "7", not "0007").
    as_text = read_attributes(folder / "attributes.parquet", "customer_id", like=["0007"])
    assert as_text.index[7] == "7"
    with pytest.raises(DataError, match=r"attributes file .*attributes\.parquet \(customer "
                                        r"id column 'customer_id'\): 500 of 500 customers"
                       ) as caught:
        encode_attributes(as_text, customers=summary_of(folder / "log.csv"))
    assert "The file's ids were read as text" in str(caught.value)


def test_without_like_a_csv_keeps_its_ids_as_written(tmp_path):
    path = write(pd.DataFrame({"id": ["007", "7", "0"], "x": [1.0, 2.0, 3.0]}),
                 tmp_path / "a.csv")
    read = read_attributes(path, "id")
    assert read.index.tolist() == ["007", "7", "0"]
    assert read["x"].tolist() == [1.0, 2.0, 3.0]
    assert read.attrs["source"] == str(path) and "id_note" not in read.attrs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 3)), min_size=1,
                max_size=25))
def test_random_zero_padded_ids_round_trip_through_a_csv(numbers):
    ids = list(dict.fromkeys(str(n).zfill(len(str(n)) + pad) for n, pad in numbers))
    value = {cid: float(i) for i, cid in enumerate(ids)}
    with tempfile.TemporaryDirectory() as folder:
        path = write(pd.DataFrame({"cid": ids, "value": [value[c] for c in ids]}),
                     Path(folder) / "a.csv")
        read = read_attributes(path, "cid", like=pd.Index(ids[::-1]))
    # Every id matches its own customer; "007" and "7" are never merged.
    assert read.index.is_unique and sorted(read.index) == sorted(ids)
    assert {cid: read.loc[cid, "value"] for cid in ids} == value
    summary = pd.DataFrame({"frequency": np.zeros(len(ids))}, index=pd.Index(ids[::-1]))
    joined = join_attributes(summary, read)
    assert joined["value"].tolist() == [value[c] for c in ids[::-1]]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.integers(0, 10**6), min_size=1, max_size=25), st.integers(0, 3))
def test_random_integer_ids_written_padded_are_read_as_integers(numbers, pad):
    numbers = sorted(numbers)
    with tempfile.TemporaryDirectory() as folder:
        path = write(pd.DataFrame({"cid": [str(n).zfill(7 + pad) for n in numbers],
                                   "value": [n / 2 for n in numbers]}), Path(folder) / "a.csv")
        read = read_attributes(path, "cid", like=pd.Index(numbers, dtype="int64"))
    assert read.index.tolist() == numbers
    assert read["value"].tolist() == [n / 2 for n in numbers]


def test_customer_ids_of_a_log_are_typed_as_its_summary(files):
    folder, log, _ = files
    padded = sorted(f"{i:04d}" for i in log["customer_id"].unique())
    assert sorted(customer_ids(folder / "log.csv", "customer_id")) == padded
    assert sorted(customer_ids(folder / "log.parquet", "customer_id")) == sorted(
        log["customer_id"].unique())
    # Ids that look like numbers are text in a CSV log, as rfm_summary reads them.
    plain = write(log.head(50), folder / "plain_ids.csv")
    assert sorted(customer_ids(plain, "customer_id")) == sorted(
        summary_of(plain).index) == sorted(str(i) for i in log.head(50)["customer_id"].unique())
    frame = pd.DataFrame({"c": ["007", None, "7", "007"], "amount": [1.0, 2.0, 3.0, 4.0]})
    assert sorted(customer_ids(frame, "c")) == ["007", "7"]
    # As the summary's: read_attributes matches them without a summary.
    ids = customer_ids(folder / "log.csv", "customer_id")
    read = read_attributes(folder / "attributes.csv", "customer_id", like=ids)
    assert set(ids) <= set(read.index)


# --------------------------------------------------------------------------- refused files


@pytest.mark.parametrize("frame, like, message, rule", [
    (pd.DataFrame({"cust": ["a"], "x": [1.0]}), None,
     "has no customer id column 'id' (its columns: ['cust', 'x']); pass its name as "
     "id_column", "missing_columns"),
    (pd.DataFrame({"id": ["a", None, None, "d"], "x": [1.0, 2.0, 3.0, 4.0]}), None,
     ": 2 of 4 rows have no customer id in column 'id'", "null_ids"),
    (pd.DataFrame({"id": ["7", "A7", "8"], "x": [1.0, 2.0, 3.0]}), [7, 8],
     ": 1 of 3 ids in column 'id' are not integers, but the ids of like= are integers",
     "id_type"),
    (pd.DataFrame({"id": ["7"]}), None, "has only the customer id column 'id'",
     "no_attributes"),
])
def test_files_that_cannot_give_attributes_are_refused_with_the_file_named(
        tmp_path, frame, like, message, rule):
    path = write(frame, tmp_path / "bad.csv")
    with pytest.raises(DataError) as caught:
        read_attributes(path, "id", like=like)
    assert str(caught.value).startswith(f"attributes file {path}")
    assert message in str(caught.value)
    assert caught.value.rule == rule


def test_other_file_kinds_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"Cannot read attributes file .*a\.xlsx: use a "
                                         r"\.csv or \.parquet file"):
        read_attributes(tmp_path / "a.xlsx", "id")
    with pytest.raises(FileNotFoundError):
        read_attributes(tmp_path / "missing.csv", "id")


# --------------------------------------------------------------------------- encoding


ATTRIBUTES = pd.DataFrame({"channel": ["web", "shop", "app", "web", "shop"],
                           "age": [31.0, 45.0, 27.0, 52.0, 38.0],
                           "vip": [True, False, False, True, False]},
                          index=pd.Index(list("abcde"), name="customer_id"))


def test_text_attributes_are_encoded_as_one_hot_encodes_them():
    encoded = encode_attributes(ATTRIBUTES, purchase=["channel", "age"], dropout="vip")
    assert encoded.groups == {"purchase": ["channel_shop", "channel_web", "age"],
                              "dropout": ["vip"], "spend": []}
    expected = one_hot(ATTRIBUTES, ["channel"])
    pd.testing.assert_frame_equal(encoded.columns[["channel_shop", "channel_web", "age"]],
                                  expected[["channel_shop", "channel_web", "age"]])
    assert encoded.columns["vip"].tolist() == [1.0, 0.0, 0.0, 1.0, 0.0]
    assert encoded.levels == {"channel": ["app", "shop", "web"]}
    # A level's own column: that level against every other.
    level = encode_attributes(ATTRIBUTES, spend=["channel_app"])
    assert level.groups == {"purchase": [], "dropout": [], "spend": ["channel_app"]}
    assert level.columns["channel_app"].tolist() == (ATTRIBUTES["channel"] == "app").astype(
        float).tolist()
    # Unpacks as a tuple, like the CLI's helpers.
    columns, groups, levels = level
    assert list(columns) == ["channel_app"] and levels == {"channel": ["app", "shop", "web"]}


def test_with_no_covariate_named_every_attribute_is_a_purchase_covariate():
    encoded = encode_attributes(ATTRIBUTES)
    assert encoded.groups == {"purchase": ["channel_shop", "channel_web", "age", "vip"],
                              "dropout": [], "spend": []}
    # Naming any group turns the default off.
    assert encode_attributes(ATTRIBUTES, dropout=["age"]).groups["purchase"] == []


def test_unknown_covariate_names_are_refused_with_the_attributes_listed(tmp_path):
    with pytest.raises(DataError) as caught:
        encode_attributes(ATTRIBUTES, purchase=["chanel"])
    text = str(caught.value)
    assert "Unknown covariate 'chanel': the attributes DataFrame has the attributes " \
           "['channel', 'age', 'vip']" in text and "e.g. channel_web" in text
    assert caught.value.rule == "missing_columns" and caught.value.column == "chanel"
    with pytest.raises(DataError, match="Unknown covariate 'channel_tv'"):
        encode_attributes(ATTRIBUTES, purchase=["channel_tv"])
    # Read from a file, the file is named.
    path = write(ATTRIBUTES.reset_index(), tmp_path / "customers.csv")
    with pytest.raises(DataError, match=f"Unknown covariate 'chanel': attributes file "
                                        f"{path} has the attributes"):
        encode_attributes(read_attributes(path, "customer_id"), dropout=["chanel"])
    # A model's column that is not a level's 0/1 column.
    with pytest.raises(DataError, match="Covariate column 'channel' is neither a "
                                        "numeric attribute nor a level's 0/1 column"):
        encode_attributes(ATTRIBUTES, purchase=["channel"], exact=True)


def test_missing_values(tmp_path):
    frame = ATTRIBUTES.assign(channel=ATTRIBUTES["channel"].where(ATTRIBUTES["age"] < 50))
    frame.loc["b", "channel"] = None
    path = write(frame.reset_index(), tmp_path / "customers.csv")
    read = read_attributes(path, "customer_id")
    with pytest.raises(DataError) as caught:
        encode_attributes(read, purchase=["channel"])
    assert str(caught.value).startswith(f"attributes file {path}: 2 row(s) of column "
                                        "'channel' have no value")
    assert caught.value.rule == "missing_values" and caught.value.n_rows == 2
    # A numeric attribute keeps its gap: the model refuses it, naming the column.
    gap = ATTRIBUTES.assign(age=ATTRIBUTES["age"].where(ATTRIBUTES.index != "c"))
    encoded = encode_attributes(gap, purchase=["age"])
    assert np.isnan(encoded.columns.loc["c", "age"])
    assert encoded.columns["age"].drop("c").tolist() == [31.0, 45.0, 52.0, 38.0]
    summary = pd.DataFrame({"frequency": [1.0, 0.0, 2.0, 0.0, 3.0],
                            "recency": [5.0, 0.0, 8.0, 0.0, 9.0], "T": [10.0] * 5},
                           index=ATTRIBUTES.index)
    with pytest.raises(DataError, match="1 row.* of covariate column 'age'"):
        BetaGeoModel(purchase_covariates=["age"]).fit(
            join_attributes(summary, encoded.columns), time_unit="W")


def test_customers_choose_the_rows_and_their_levels():
    summary = pd.DataFrame({"frequency": [1.0, 0.0, 2.0]}, index=pd.Index(["d", "a", "b"]))
    encoded = encode_attributes(ATTRIBUTES, purchase=["channel"], customers=summary)
    # Only these customers, in their order; "app" (customer c) is no level of theirs.
    assert encoded.columns.index.tolist() == ["d", "a", "b"]
    assert encoded.groups["purchase"] == ["channel_web"]
    assert encoded.columns["channel_web"].tolist() == [1.0, 1.0, 0.0]
    assert encoded.levels == {"channel": ["shop", "web"]}
    # Ids work as well as a summary.
    same = encode_attributes(ATTRIBUTES, purchase=["channel"], customers=["d", "a", "b"])
    pd.testing.assert_frame_equal(same.columns, encoded.columns)
    with pytest.raises(DataError, match="1 of 2 customers of the summary have no row"):
        encode_attributes(ATTRIBUTES, purchase=["age"], customers=["a", "zz"])
    # One level among these customers cannot tell them apart.
    with pytest.raises(DataError, match=r"Attribute 'channel' of the attributes DataFrame "
                                        r"has one level \('web'\) among the 2 customers"):
        encode_attributes(ATTRIBUTES, purchase=["channel"], customers=["a", "d"])


def test_a_fitted_models_columns_and_levels_encode_new_customers():
    fitted = encode_attributes(ATTRIBUTES, purchase=["channel"])
    # New customers who all buy on the web: the model's columns, zeros where due.
    new = pd.DataFrame({"channel": ["web", "web"], "age": [40.0, 41.0]},
                       index=pd.Index(["x", "y"], name="customer_id"))
    again = encode_attributes(new, purchase=fitted.groups["purchase"], exact=True,
                              levels=fitted.levels)
    assert again.groups["purchase"] == ["channel_shop", "channel_web"]
    assert again.columns["channel_shop"].tolist() == [0.0, 0.0]
    assert again.columns["channel_web"].tolist() == [1.0, 1.0]
    # A level the model never saw would count as the reference level: refused.
    tv = new.assign(channel=["web", "tv"])
    with pytest.raises(DataError, match=r"Attribute 'channel' of the attributes DataFrame "
                                        r"has level\(s\) \['tv'\] that the model was not "
                                        r"fitted with \(levels \['app', 'shop', 'web'\]\): "
                                        r"their customers would count as the reference "
                                        r"level 'app'") as caught:
        encode_attributes(tv, purchase=fitted.groups["purchase"], exact=True,
                          levels=fitted.levels)
    assert caught.value.rule == "unknown_level"
    encode_attributes(tv, purchase=fitted.groups["purchase"], exact=True)  # not checked


def test_covariate_models_hold_each_group_where_it_belongs():
    models = covariate_models({"purchase": ["channel_web"], "dropout": [],
                               "spend": ["age"]}, penalizer=0.1)
    assert list(models) == ["bgnbd_covariates", "pareto_nbd_covariates", "mbgnbd_covariates"]
    assert not set(models) & set(default_models())
    for pair, kind in zip(models.values(), ("BetaGeoModel", "ParetoNBDModel",
                                            "ModifiedBetaGeoModel")):
        purchases, spend = pair.transaction_model, pair.spend_model
        assert type(purchases).__name__ == kind
        assert purchases.purchase_covariates == ["channel_web"]
        assert purchases.dropout_covariates is None  # an empty group: none
        assert spend.spend_covariates == ["age"] and spend.nonpositive_spend == "exclude"
        assert purchases.penalizer == spend.penalizer == 0.1
    assert covariate_models({"purchase": ["a"]})["bgnbd_covariates"].spend_model \
        .spend_covariates is None


# --------------------------------------------------------------------------- round trip


def test_fit_and_predict_with_the_columns_the_cli_uses(files, tmp_path):
    folder, log, attributes = files
    models = tmp_path / "models"
    runner = CliRunner()
    done = runner.invoke(app, ["fit", str(folder / "log.csv"), "-o", str(models),
                               "--attributes", str(folder / "attributes.csv"),
                               "--purchase-covariates", "channel", "--dropout-covariates",
                               "age", "--spend-covariates", "channel_web"])
    assert done.exit_code == 0, (done.stdout, done.stderr)
    # The Python API on the same files.
    summary = summary_of(folder / "log.csv")
    read = read_attributes(folder / "attributes.csv", "customer_id", like=summary)
    encoded = encode_attributes(read, purchase="channel", dropout="age",
                                spend="channel_web", customers=summary)
    # The columns are those one_hot makes of the file as written.
    raw = pd.read_csv(folder / "attributes.csv", dtype={"customer_id": str})
    expected = one_hot(raw.set_index("customer_id"), ["channel"]).loc[summary.index]
    np.testing.assert_array_equal(encoded.columns["channel_web"], expected["channel_web"])
    np.testing.assert_array_equal(encoded.columns["age"], expected["age"])
    assert encoded.levels == json.loads((models / "attributes.json").read_text())["levels"]
    data = join_attributes(summary, encoded.columns)
    bg = BetaGeoModel(purchase_covariates=encoded.groups["purchase"],
                      dropout_covariates=encoded.groups["dropout"]).fit(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gg = GammaGammaModel(nonpositive_spend="exclude",
                             spend_covariates=encoded.groups["spend"]).fit(data)
    saved_bg = clvmodels.load(models / "purchases.json")
    saved_gg = clvmodels.load(models / "spend.json")
    pd.testing.assert_series_equal(bg.params_, saved_bg.params_, rtol=1e-6)
    pd.testing.assert_series_equal(gg.params_, saved_gg.params_, rtol=1e-6)
    # Web buyers buy four times as often: purchase_coef[channel_web] near log 4.
    assert bg.params_["purchase_coef[channel_web]"] == pytest.approx(np.log(4.0), abs=0.4)

    # Predict: the saved models' columns and levels encode the customers again.
    done = runner.invoke(app, ["predict", str(folder / "log.csv"), "--models", str(models),
                               "--attributes", str(folder / "attributes.csv"), "-o",
                               str(tmp_path / "clv.csv"), "--interval", "0"])
    assert done.exit_code == 0, (done.stdout, done.stderr)
    cli = pd.read_csv(tmp_path / "clv.csv", dtype={"customer_id": str}).set_index(
        "customer_id")
    columns = list(dict.fromkeys(saved_bg.covariate_columns() + saved_gg.covariate_columns()))
    again = encode_attributes(read, purchase=columns, exact=True, levels=encoded.levels,
                              customers=summary)
    pd.testing.assert_frame_equal(again.columns[columns], encoded.columns[columns])
    mine = predict_clv(join_attributes(summary, again.columns), saved_bg, saved_gg,
                       horizon=52, time_unit="W", interval=None).set_index("customer_id")
    wanted = ["probability_alive", "expected_purchases", "expected_spend", "clv"]
    pd.testing.assert_frame_equal(cli.loc[mine.index, wanted], mine[wanted], rtol=1e-9)
