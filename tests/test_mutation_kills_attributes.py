"""Customer attributes (clvmodels.attributes), the cases the first tests let through
(mutants of attributes.py; see tests/mutation/README.md): every file kind the
docstring promises, ids of every type a file or a ``like=`` can hold, the counts
and wording of the messages, float covariate columns, levels of mixed types, and
the levels a fitted model refuses. Fast: no model is fitted.

Expected values are the ids and attributes written to the files here, and the
messages' rules as the docstrings state them.
"""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from clvmodels import DataError, encode_attributes, read_attributes

IDS = ["007", "012", "7"]
FRAME = pd.DataFrame({"id": IDS, "channel": ["web", "shop", "web"], "age": [31.0, 45.0, 27.0]})


def _csv_text(sep: str = ",") -> str:
    return FRAME.to_csv(index=False, sep=sep)


@pytest.mark.parametrize("name", ["customers.csv", "customers.CSV", "customers.txt",
                                  "customers.tsv", "customers.csv.gz", "customers.CSV.GZ",
                                  "customers.2024.csv", "customers.2024.csv.gz"])
def test_every_text_file_kind_reads_the_ids_as_written(tmp_path, name):
    path = tmp_path / name
    text = _csv_text("\t" if name.endswith(".tsv") else ",")
    if name.lower().endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    read = read_attributes(path, "id")
    assert read.index.tolist() == IDS and read.index.name == "id"
    assert read.columns.tolist() == ["channel", "age"]
    assert read["channel"].tolist() == ["web", "shop", "web"]
    assert read["age"].tolist() == [31.0, 45.0, 27.0]


@pytest.mark.parametrize("name", ["customers.parquet", "customers.pq", "customers.PQ"])
def test_parquet_files_under_either_suffix(tmp_path, name):
    path = tmp_path / name
    FRAME.assign(id=[7, 12, 70]).to_parquet(path, index=False)
    read = read_attributes(path, "id")
    assert read.index.tolist() == [7, 12, 70]
    assert pd.api.types.is_integer_dtype(read.index)
    assert read["channel"].tolist() == ["web", "shop", "web"]


def test_the_id_note_says_how_the_ids_were_read(tmp_path):
    csv = tmp_path / "a.csv"
    csv.write_text("id,x\n007,1\n8,2\n")
    as_int = read_attributes(csv, "id", like=[7, 8])
    assert as_int.attrs["id_note"] == ("The file's ids were read as integers, as those of "
                                       "like= are: 7 matches 7 and 007.")
    parquet = tmp_path / "a.parquet"
    pd.DataFrame({"id": [7, 8], "x": [1.0, 2.0]}).to_parquet(parquet, index=False)
    as_text = read_attributes(parquet, "id", like=["007", "8"])
    assert as_text.index.tolist() == ["7", "8"]
    assert as_text.attrs["id_note"] == ("The file's ids were read as text, as those of "
                                        "like= are: 7 matches 7, not 007.")


def test_text_ids_with_spaces_become_integers(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('id,x\n" 007",1\n"8 ",2\n')
    read = read_attributes(path, "id", like=[7, 8])
    assert read.index.tolist() == [7, 8] and read.index.dtype == np.int64


def test_integer_ids_of_text_become_int64(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id,x\n0007,1\n8,2\n")
    read = read_attributes(path, "id", like=pd.Index([8, 7]))
    assert read.index.dtype == np.int64 and read.index.tolist() == [7, 8]


def test_whole_float_ids_become_integers_and_others_are_refused(tmp_path):
    path = tmp_path / "a.parquet"
    pd.DataFrame({"id": [7.0, 12.0], "x": [1.0, 2.0]}).to_parquet(path, index=False)
    read = read_attributes(path, "id", like=[7, 12])
    assert read.index.dtype == np.int64 and read.index.tolist() == [7, 12]
    for ids, bad in (([7.5, 12.0, 3.0], [7.5]), ([7.0, np.inf, 3.0], [np.inf])):
        pd.DataFrame({"id": ids, "x": [1.0, 2.0, 3.0]}).to_parquet(path, index=False)
        with pytest.raises(DataError) as caught:
            read_attributes(path, "id", like=[7, 12])
        assert str(caught.value).startswith(
            f"attributes file {path}: 1 of 3 ids in column 'id' are not whole numbers, "
            "but the ids of like= are integers; write the ids as like= has them.")
        assert caught.value.rule == "id_type" and caught.value.n_rows == 1
        assert caught.value.examples == bad


def test_boolean_ids_are_refused_for_integer_and_text_customers(tmp_path):
    path = tmp_path / "a.parquet"
    pd.DataFrame({"id": [True, False], "x": [1.0, 2.0]}).to_parquet(path, index=False)
    with pytest.raises(DataError) as caught:
        read_attributes(path, "id", like=[1, 0])
    assert str(caught.value).startswith(
        f"attributes file {path}: 2 of 2 ids in column 'id' are booleans, but the ids of "
        "like= are integers; write the ids as like= has them.")
    assert caught.value.n_rows == 2 and caught.value.examples == [True, False]
    with pytest.raises(DataError) as caught:
        read_attributes(path, "id", like=["1", "0"])
    assert str(caught.value).startswith(
        f"attributes file {path}: 2 of 2 ids in column 'id' are not text nor integers, but "
        "the ids of like= are text; write the ids as like= has them.")
    assert caught.value.n_rows == 2 and caught.value.rule == "id_type"


def test_float_ids_are_refused_for_text_customers(tmp_path):
    path = tmp_path / "a.parquet"
    pd.DataFrame({"id": [7.0, 8.5], "x": [1.0, 2.0]}).to_parquet(path, index=False)
    with pytest.raises(DataError, match=r": 2 of 2 ids in column 'id' are not text nor "
                                        r"integers, but the ids of like= are text"):
        read_attributes(path, "id", like=["7", "8"])


@pytest.mark.parametrize("like, ids", [
    (pd.Index([7, 8], dtype=object), [7, 8]),                 # Python ints: integers
    (pd.Index(["a", 7], dtype=object), ["007", "8"]),         # mixed: as written
    (pd.Index([True, False], dtype=object), ["007", "8"]),    # booleans: as written
    (pd.Index([7.0, 8.0], dtype=object), ["007", "8"]),       # floats: as written
    (pd.Index([], dtype=object), ["007", "8"]),               # nothing to go by
    (pd.Index([None, "7"], dtype=object), ["007", "8"]),      # text, missing left out
])
def test_the_kind_of_like_ids_held_as_objects(tmp_path, like, ids):
    path = tmp_path / "a.csv"
    path.write_text("id,x\n007,1\n8,2\n")
    assert read_attributes(path, "id", like=like).index.tolist() == ids


def test_the_file_kind_is_chosen_by_the_last_suffix(tmp_path):
    path = tmp_path / "customers.csv.parquet"
    pd.DataFrame({"id": ["a", "b"], "x": [1.0, 2.0]}).to_parquet(path, index=False)
    assert read_attributes(path, "id").index.tolist() == ["a", "b"]
    with pytest.raises(ValueError, match=r"use a \.csv or \.parquet file"):
        read_attributes(tmp_path / "customers.gz", "id")


# --------------------------------------------------------------------------- encoding


ATTRIBUTES = pd.DataFrame({"age": [31, 45, 27, 52], "vip": [True, False, False, True],
                           "channel": ["web", "shop", "app", "web"]},
                          index=pd.Index(list("abcd"), name="customer_id"))


def test_numeric_and_boolean_attributes_are_float_columns():
    encoded = encode_attributes(ATTRIBUTES, purchase=["age", "vip", "channel_web"])
    assert encoded.columns.dtypes.tolist() == [np.dtype(float)] * 3
    assert encoded.columns["age"].tolist() == [31.0, 45.0, 27.0, 52.0]
    assert encoded.columns["vip"].tolist() == [1.0, 0.0, 0.0, 1.0]


def test_the_example_of_a_level_column_is_a_text_attributes():
    with pytest.raises(DataError) as caught:
        encode_attributes(ATTRIBUTES, purchase=["chanel"])
    # age and vip come first but are numbers: the example is channel's last level.
    assert str(caught.value) == (
        "Unknown covariate 'chanel': the attributes DataFrame has the attributes "
        "['age', 'vip', 'channel'] (a text attribute's 0/1 columns are named "
        "attribute_level, e.g. channel_web).")
    with pytest.raises(DataError, match=r"e\.g\. channel_web\)\.$"):
        encode_attributes(ATTRIBUTES[["age", "vip"]], purchase=["agee"])


def test_a_level_name_is_only_a_text_attributes():
    # "age_31" names no column: age is a number, whose values have no 0/1 columns.
    with pytest.raises(DataError, match="Unknown covariate 'age_31'"):
        encode_attributes(ATTRIBUTES, purchase=["age_31"])
    with pytest.raises(DataError, match="Unknown covariate 'age_31'"):
        encode_attributes(ATTRIBUTES, purchase=["age_31"], exact=True)
    # A fitted model's column of a level these customers lack is zeros; of a number, refused.
    zeros = encode_attributes(ATTRIBUTES, purchase=["channel_tv"], exact=True)
    assert zeros.columns["channel_tv"].tolist() == [0.0] * 4
    assert zeros.levels == {"channel": ["app", "shop", "web"]}


def test_a_level_name_that_two_attributes_share_is_ambiguous():
    frame = pd.DataFrame({"a": ["b_c", "x"], "a_b": ["c", "y"]}, index=["p", "q"])
    with pytest.raises(DataError) as caught:
        encode_attributes(frame, purchase=["a_b_c"])
    assert caught.value.rule == "ambiguous_covariate"
    assert "is a level of several attributes (['a', 'a_b'])" in str(caught.value)


def test_date_attributes_are_refused():
    frame = ATTRIBUTES.assign(joined=pd.to_datetime(["2020-01-01", "2021-01-01",
                                                     "2022-01-01", "2023-01-01"]))
    with pytest.raises(DataError, match="Attribute 'joined' of the attributes DataFrame "
                                        "holds dates") as caught:
        encode_attributes(frame, purchase=["joined"])
    assert caught.value.rule == "not_numeric"


def test_levels_of_mixed_types_sort_by_type_then_value():
    frame = pd.DataFrame({"store": ["north", 3, "east", 12, 3]},
                         index=pd.Index(list("abcde"), name="customer_id"))
    encoded = encode_attributes(frame, purchase=["store"])
    # ints before text: the reference level is 3.
    assert encoded.levels == {"store": ["3", "12", "east", "north"]}
    assert encoded.groups["purchase"] == ["store_12", "store_east", "store_north"]
    assert encoded.columns["store_east"].tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]


def test_a_constant_attribute_counts_its_customers():
    frame = ATTRIBUTES.assign(country=["fr"] * 4)
    with pytest.raises(DataError) as caught:
        encode_attributes(frame, purchase=["country"])
    assert "has one level ('fr') among its 4 customers" in str(caught.value)
    assert caught.value.n_rows == 4 and caught.value.rule == "constant_covariate"


def test_missing_text_values_name_the_column_and_the_customers():
    frame = ATTRIBUTES.assign(channel=["web", None, "app", None])
    with pytest.raises(DataError) as caught:
        encode_attributes(frame, purchase=["channel"])
    assert caught.value.column == "channel" and caught.value.n_rows == 2
    assert caught.value.examples == ["b", "d"]


def test_customers_without_a_row_keep_the_join_message_of_a_dataframe():
    with pytest.raises(DataError) as caught:
        encode_attributes(ATTRIBUTES, purchase=["age"], customers=["a", "zz"])
    assert str(caught.value).startswith(
        "customer attributes: 1 of 2 customers of the summary have no row of attributes")


def test_customers_without_a_row_name_the_file_and_its_id_column(tmp_path):
    path = tmp_path / "a.csv"
    ATTRIBUTES.reset_index().to_csv(path, index=False)
    read = read_attributes(path, "customer_id").rename_axis("cid")
    with pytest.raises(DataError) as caught:
        encode_attributes(read, purchase=["age"], customers=["a", "zz"])
    assert str(caught.value).startswith(
        f"attributes file {path} (customer id column 'cid'): 1 of 2 customers")
    unnamed = read.rename_axis(None)
    assert unnamed.attrs["source"] == str(path)
    with pytest.raises(DataError, match=r"\(customer id column 'index'\): 1 of 2 customers"):
        encode_attributes(unnamed, purchase=["age"], customers=["a", "zz"])


@pytest.mark.parametrize("group", ["purchase", "dropout", "spend"])
def test_covariate_names_must_be_text(group):
    with pytest.raises(TypeError) as caught:
        encode_attributes(ATTRIBUTES, **{group: ["age", 3]})
    assert str(caught.value) == f"{group} must be covariate names (text), got ['age', 3]."


def test_new_levels_are_refused_after_attributes_the_model_never_saw():
    fitted = encode_attributes(ATTRIBUTES, purchase=["channel_web"])
    new = pd.DataFrame({"region": ["n", "s"], "channel": ["web", "tv"]},
                       index=pd.Index(["x", "y"], name="customer_id"))
    with pytest.raises(DataError) as caught:
        encode_attributes(new, purchase=["region", "channel_web"], levels=fitted.levels)
    assert str(caught.value).endswith(
        "would count as the reference level 'app'. Refit the model, or give these "
        "customers a level it knows.")
    assert caught.value.column == "channel" and caught.value.rule == "unknown_level"


def test_a_models_column_of_a_level_these_customers_lack_is_zeros():
    # The column's level is the whole rest of its name: "channel_xweb" is the level
    # "xweb", not "web"; "channel_x" the level "x", not "l_x".
    rows = pd.DataFrame({"channel": ["web", "l_x", "shop"]},
                        index=pd.Index(["p", "q", "r"], name="customer_id"))
    encoded = encode_attributes(rows, purchase=["channel_xweb", "channel_x"], exact=True)
    assert encoded.columns["channel_xweb"].tolist() == [0.0, 0.0, 0.0]
    assert encoded.columns["channel_x"].tolist() == [0.0, 0.0, 0.0]


# --------------------------------------------------------------------------- unreadable files


def test_unreadable_files_are_named_in_one_line(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("id,x\n1,2\n3,4,5,6\n")
    with pytest.raises(DataError) as caught:
        read_attributes(csv, "id")
    assert str(caught.value) == (f"cannot read attributes file {csv}: Error tokenizing data. "
                                 "C error: Expected 2 fields in line 3, saw 4")
    assert caught.value.rule == "unreadable"
    parquet = tmp_path / "bad.parquet"
    parquet.write_text("not parquet\n")
    with pytest.raises(DataError, match=rf"^cannot read attributes file {parquet}: .*Parquet "
                                        "magic bytes not found") as caught:
        read_attributes(parquet, "id")
    assert caught.value.rule == "unreadable"


@pytest.mark.parametrize("error, text", [
    (ValueError("first line\n   second line \n"), "first line second line"),
    (RuntimeError(" engine failed:\n\tcolumn 3\n"), "RuntimeError: engine failed: column 3"),
])
def test_a_readers_multi_line_error_becomes_one_line(tmp_path, monkeypatch, error, text):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(pd, "read_csv", fail)
    path = tmp_path / "a.csv"
    with pytest.raises(DataError) as caught:
        read_attributes(path, "id")
    assert str(caught.value) == f"cannot read attributes file {path}: {text}"
    assert caught.value.__cause__ is error


def test_a_corrupt_gzip_file_is_named(tmp_path):
    # gzip's error is an OSError, which read_attributes passes on for files it cannot
    # open; a .csv.gz that is no gzip file was opened: it is unreadable, and named.
    path = tmp_path / "customers.csv.gz"
    path.write_text("id,x\n1,2\n")
    with pytest.raises(DataError) as caught:
        read_attributes(path, "id")
    assert str(caught.value) == (f"cannot read attributes file {path}: Not a gzipped file "
                                 "(b'id')")
    assert caught.value.rule == "unreadable"
