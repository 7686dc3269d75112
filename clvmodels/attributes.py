"""Customer attributes from a file, encoded as the covariates of the models.

Static customer attributes (channel, region, age...) come as a CSV or Parquet
file with one row per customer. Two steps turn them into covariates:

- :func:`read_attributes` reads the file indexed by customer id, the ids typed
  like the summary's (or the log's): pandas' ``read_csv`` would turn the id
  ``"007"`` into ``7``, which then matches no customer of a log read as text;
- :func:`encode_attributes` resolves covariate names (an attribute, or one level
  of a text attribute) into numeric columns: text attributes become 0/1 columns
  as :func:`clvmodels.one_hot` makes them (the first level in sorted order is the
  reference), numeric ones are used as they are.

The encoded columns are joined to the summary with
:func:`clvmodels.join_attributes` and named in the models'
``purchase_covariates``, ``dropout_covariates`` and ``spend_covariates``
(:mod:`clvmodels.covariates`). The ``clvmodels`` command line (``--attributes``)
is built on these functions.
"""

from __future__ import annotations

import contextlib
import gzip
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .covariates import join_attributes, one_hot
from .exceptions import DataError

__all__ = ["COVARIATE_GROUPS", "EncodedAttributes", "encode_attributes", "read_attributes"]

#: The covariate groups of the models: ``{group}_covariates`` of their constructors.
COVARIATE_GROUPS = ("purchase", "dropout", "spend")

#: ``join_attributes`` rules about the attributes themselves: their source is named in them.
_ATTRIBUTE_RULES = ("duplicate_ids", "covariate_is_data_column", "missing_attributes")


@dataclass(frozen=True)
class _Wording:
    """How the messages name the attributes and the ids they are matched to.

    The library says "attributes file FILE" and ``like=``; the command line
    "--attributes FILE" and "the log" (:mod:`clvmodels.cli` builds its own).
    """

    name: str
    id_hint: str = "pass its name as id_column"
    ids_are: str = "the ids of like= are"
    ids_as: str = "as like= has them"
    like_ids: str = "as those of like= are"
    customers: str = "its"
    saved: str = "Covariate column"

    @classmethod
    def of(cls, attributes: pd.DataFrame, customers: str = "its") -> "_Wording":
        """The wording of a DataFrame: the file :func:`read_attributes` read it from."""
        source = attributes.attrs.get("source")
        return cls(f"attributes file {source}" if source else "the attributes DataFrame",
                   customers=customers)


def _one_line(text) -> str:
    return re.sub(r"\s*\n\s*", " ", str(text).strip())


def _ids_kind(ids) -> str:
    """``"int"``, ``"str"`` or ``"other"``: the kind of customer ids."""
    dtype = ids.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "other"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_string_dtype(dtype) or dtype == object:
        kinds = {type(v) for v in pd.Series(ids).dropna().head(1000)}
        if kinds and all(issubclass(k, str) for k in kinds):
            return "str"
        if kinds and all(issubclass(k, int) and not issubclass(k, bool) for k in kinds):
            return "int"
    return "other"


def _ids_as(values: pd.Series, kind: str, col: str, wording: _Wording) -> pd.Series:
    """The file's ids as ids of ``kind``: text ids stay text (``"007"``), integer ids
    become integers only when those they are matched to are integers."""
    def refuse(bad, what):
        raise DataError(
            f"{wording.name}: {int(bad.sum())} of {len(values)} ids in column {col!r} "
            f"are {what}, but {wording.ids_are} {'integers' if kind == 'int' else 'text'}"
            f"; write the ids {wording.ids_as}.", column=col, rule="id_type",
            n_rows=int(bad.sum()), examples=values[bad].head(5).tolist())

    if kind == "str":
        if pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values):
            return values.map(str).astype(object)
        is_int = values.map(lambda v: isinstance(v, (int, np.integer))
                            and not isinstance(v, (bool, np.bool_)))
        ok = values.map(lambda v: isinstance(v, str)) | is_int
        if not ok.all():
            refuse(~ok, "not text nor integers")
        return values.map(str).astype(object)
    if kind == "int":
        if pd.api.types.is_bool_dtype(values):
            refuse(pd.Series(True, index=values.index), "booleans")
        if pd.api.types.is_integer_dtype(values):
            return values.astype("int64")
        if pd.api.types.is_float_dtype(values):
            whole = np.isfinite(values) & (values == np.round(values))
            if not whole.all():
                refuse(~whole, "not whole numbers")
            return values.astype("int64")
        text = values.map(lambda v: v.strip() if isinstance(v, str) else v)
        ok = text.map(lambda v: (isinstance(v, str) and re.fullmatch(r"[+-]?\d+", v) is not None)
                      or (isinstance(v, (int, np.integer)) and not isinstance(v, bool)))
        if not ok.all():
            refuse(~ok, "not integers")
        return text.map(int).astype("int64")
    return values


def _read(path: Path, id_col: str, kind: str, wording: _Wording) -> pd.DataFrame:
    """The attributes file indexed by customer id (``id_col``), ids of ``kind``."""
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" \
        else path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".csv.gz", ".txt", ".tsv"):
        raise ValueError(f"Cannot read {wording.name}: use a .csv or .parquet file.")
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            # The id column as written: never typed by the reader's guess.
            frame = pd.read_csv(path, dtype={id_col: str}, sep="\t" if suffix == ".tsv" else ",")
    except gzip.BadGzipFile as error:  # an OSError, but the file was opened
        raise DataError(f"cannot read {wording.name}: {_one_line(error)}",
                        rule="unreadable") from error
    except OSError:
        raise
    except ValueError as error:
        raise DataError(f"cannot read {wording.name}: {_one_line(error)}",
                        rule="unreadable") from error
    except Exception as error:  # pyarrow's errors would otherwise name no file
        raise DataError(f"cannot read {wording.name}: {type(error).__name__}: "
                        f"{_one_line(error)}", rule="unreadable") from error
    if id_col not in frame.columns:
        raise DataError(
            f"{wording.name} has no customer id column {id_col!r} (its columns: "
            f"{list(frame.columns)}); {wording.id_hint}.", column=id_col,
            rule="missing_columns")
    ids = frame[id_col]
    absent = ids.isna().to_numpy(dtype=bool)
    if absent.any():
        raise DataError(
            f"{wording.name}: {int(absent.sum())} of {len(frame)} rows have no customer "
            f"id in column {id_col!r}; drop them or give them their id.", column=id_col,
            rule="null_ids", n_rows=int(absent.sum()))
    converted = _ids_kind(pd.Index(ids)) != kind and kind in ("int", "str")
    ids = _ids_as(ids, kind, id_col, wording)
    out = frame.drop(columns=[id_col])
    out.index = pd.Index(ids.to_numpy(), name=id_col)
    if converted:
        out.attrs["id_note"] = (
            f"The file's ids were read as {'integers' if kind == 'int' else 'text'}, "
            f"{wording.like_ids}: "
            f"{'7 matches 7 and 007' if kind == 'int' else '7 matches 7, not 007'}.")
    if out.columns.empty:
        raise DataError(f"{wording.name} has only the customer id column {id_col!r}: "
                        "no attribute to use.", column=id_col, rule="no_attributes")
    return out


def _like_ids(like) -> pd.Index:
    if isinstance(like, pd.DataFrame):
        return like.index
    return pd.Index(like)


def read_attributes(path, id_column: str, like=None) -> pd.DataFrame:
    """Read customer attributes (CSV or Parquet, one row per customer) indexed by id.

    The ids are read as the ids they will be matched to: with ``like`` a summary
    of a CSV log (text ids, as :func:`clvmodels.rfm_summary` reads them),
    ``"007"`` stays ``"007"`` and an integer ``7`` of a Parquet file becomes
    ``"7"``; with integer ids (a Parquet log of integers), the text ``"007"`` of
    a CSV becomes ``7``. Without ``like`` a CSV's ids are text exactly as written
    (never typed by pandas' guess) and a Parquet file's keep their type.

    Parameters
    ----------
    path
        A ``.csv`` (also ``.csv.gz``, ``.txt``; ``.tsv`` tab-separated) or
        ``.parquet`` file with a header.
    id_column
        The file's customer id column; it becomes the index.
    like
        What the ids must match: a DataFrame (its index: an RFM summary) or the
        ids themselves (an Index, a Series or a list; e.g.
        :func:`clvmodels.data.customer_ids` of a log file).

    Returns
    -------
    DataFrame of the other columns, indexed by customer id (named ``id_column``).
    When the ids were converted to the kind of ``like``'s, ``attrs["id_note"]``
    says so; ``attrs["source"]`` is the file, which :func:`encode_attributes`
    names in its messages.

    Raises
    ------
    DataError
        Naming the file and the column: ``missing_columns`` (no ``id_column``),
        ``null_ids`` (rows without an id, counted), ``id_type`` (ids that cannot
        be of ``like``'s kind, e.g. ``"A7"`` for integer ids; counted),
        ``no_attributes`` (only the id column), ``unreadable``.
    ValueError
        Neither a CSV nor a Parquet file name.
    OSError
        The file cannot be opened (missing, permission denied).

    Examples
    --------
    >>> import pandas as pd, tempfile, os
    >>> from clvmodels import read_attributes
    >>> path = os.path.join(tempfile.mkdtemp(), "customers.csv")
    >>> pd.DataFrame({"id": ["007", "012"], "channel": ["web", "shop"]}).to_csv(
    ...     path, index=False)
    >>> summary = pd.DataFrame({"frequency": [2, 0]}, index=pd.Index(["012", "007"]))
    >>> read_attributes(path, "id", like=summary).index.tolist()   # text: "007" stays
    ['007', '012']
    >>> read_attributes(path, "id", like=[12, 7]).index.tolist()  # integer ids
    [7, 12]
    """
    kind = "other" if like is None else _ids_kind(_like_ids(like))
    out = _read(Path(path), id_column, kind, _Wording(f"attributes file {path}"))
    out.attrs["source"] = str(path)
    return out


@contextlib.contextmanager
def _naming(name: str, id_col, note: str | None = None):
    """Re-raise the attributes errors of ``join_attributes`` with their source and id
    column named, and ``note`` (how the ids were read) added to missing rows."""
    try:
        yield
    except DataError as error:
        if error.rule not in _ATTRIBUTE_RULES:
            raise
        text = str(error)
        if text.startswith("customer attributes: "):
            text = text[len("customer attributes: "):]
        if note and error.rule == "missing_attributes":
            text = f"{text} {note}"
        named = DataError(f"{name} (customer id column {id_col!r}): {text}",
                          column=error.column, rule=error.rule, n_rows=error.n_rows)
        named.examples = list(error.examples)
        raise named from error


def _matched(attributes: pd.DataFrame, customers: pd.DataFrame, name: str | None,
             id_col) -> pd.DataFrame:
    """The attributes of ``customers`` (a summary, or a frame of their ids), in their
    order, checked by ``join_attributes``; ``name`` names the source in its errors."""
    naming = (_naming(name, id_col, attributes.attrs.get("id_note")) if name
              else contextlib.nullcontext())
    with naming:
        joined = join_attributes(customers, attributes)
    return joined[list(attributes.columns)]


def _levels(values: pd.Series) -> list:
    """The sorted levels of a text attribute (missing values refused, as one_hot does)."""
    present = values.dropna()
    if len(present) < len(values):
        one_hot(values.to_frame(), values.name)  # raises missing_values, counted
    return sorted(pd.unique(present), key=lambda v: (str(type(v)), v))


def _is_text(values: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values))


def _example_level(rows: pd.DataFrame) -> str:
    for attribute in rows.columns:
        values = rows[attribute].dropna()
        if len(values) and _is_text(values):
            return f"{attribute}_{_levels(values)[-1]}"
    return "channel_web"


def _attribute_columns(rows: pd.DataFrame, name: str, wording: _Wording,
                       exact: bool = False) -> list[tuple[str, str, object]]:
    """What a covariate name means: ``[(column, attribute, level or None), ...]``.

    A numeric attribute is itself; a text attribute all its 0/1 columns but the
    reference level's (the first in sorted order, as :func:`clvmodels.one_hot`); a
    name ``attribute_level`` the 0/1 column of that level. ``exact`` (a fitted model's
    column): a level none of these customers has is a column of zeros.
    """
    if name in rows.columns:
        values = rows[name]
        if not _is_text(values):
            return [(name, name, None)]
        if pd.api.types.is_datetime64_any_dtype(values):
            raise DataError(f"Attribute {name!r} of {wording.name} holds dates: turn it "
                            "into a number first (e.g. years since a day).", column=name,
                            rule="not_numeric")
        levels = _levels(values)
        if len(levels) < 2:
            raise DataError(
                f"Attribute {name!r} of {wording.name} has one level ({levels[0]!r}) "
                f"among {wording.customers} {len(values)} customers: it cannot tell them "
                "apart. Leave it out of the covariates.", column=name,
                rule="constant_covariate", n_rows=len(values))
        return [(f"{name}_{level}", name, level) for level in levels[1:]]
    matches = []
    for attribute in rows.columns:
        values = rows[attribute]
        if name.startswith(f"{attribute}_") and _is_text(values):
            level = name[len(attribute) + 1:]
            found = [v for v in _levels(values) if str(v) == level]
            if found:
                matches.append((name, attribute, found[0]))
    if not matches and exact:
        matches = [(name, attribute, name[len(attribute) + 1:]) for attribute in rows.columns
                   if name.startswith(f"{attribute}_") and _is_text(rows[attribute])]
    if len(matches) > 1:
        raise DataError(f"Covariate {name!r} is a level of several attributes "
                        f"({[m[1] for m in matches]}) of {wording.name}; rename one.",
                        column=name, rule="ambiguous_covariate")
    if not matches:
        raise DataError(
            f"Unknown covariate {name!r}: {wording.name} has the attributes "
            f"{list(rows.columns)} (a text attribute's 0/1 columns are named "
            f"attribute_level, e.g. {_example_level(rows)}).", column=name,
            rule="missing_columns")
    return matches


class EncodedAttributes(NamedTuple):
    """What :func:`encode_attributes` returns (a tuple: ``columns, groups, levels``)."""

    #: The covariate columns, one row per customer: 0/1 floats for the levels of
    #: text attributes, numeric attributes as floats.
    columns: pd.DataFrame
    #: ``{"purchase": [...], "dropout": [...], "spend": [...]}``: the columns of
    #: each covariate group, for the models' ``{group}_covariates``.
    groups: dict
    #: ``{attribute: [levels]}`` of the text attributes used (as text, sorted).
    levels: dict


def _encode(rows: pd.DataFrame, options: dict, wording: _Wording,
            exact: bool = False) -> EncodedAttributes:
    """The covariate columns of ``rows`` (raw attributes, one row per customer).

    ``options`` is ``{group: [names] or None}``, with ``"default": True`` for every
    attribute as a purchase covariate. ``exact``: the names are encoded columns (a
    fitted model's).
    """
    if options.get("default"):
        options = dict(options, purchase=list(rows.columns))
    groups, meaning = {}, {}
    for group in COVARIATE_GROUPS:
        names = options.get(group) or []
        columns = []
        for name in names:
            found = _attribute_columns(rows, name, wording, exact=exact)
            if exact and (len(found) != 1 or found[0][0] != name
                          or (found[0][2] is None) != (name in rows.columns)):
                raise DataError(
                    f"{wording.saved} {name!r} is neither a numeric attribute nor "
                    f"a level's 0/1 column (attribute_level) of {wording.name}.",
                    column=name, rule="missing_columns")
            for column, attribute, level in found:
                if column in meaning and meaning[column] != (attribute, level):
                    raise DataError(f"Covariate column {column!r} would be both the attribute "
                                    f"{meaning[column][0]!r} and a level of {attribute!r}; "
                                    "rename one.", column=column, rule="duplicate_columns")
                meaning[column] = (attribute, level)
                if column not in columns:
                    columns.append(column)
        groups[group] = columns
    encoded = {}
    for column, (attribute, level) in meaning.items():
        values = rows[attribute]
        if level is None:
            encoded[column] = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            encoded[column] = (values == level).to_numpy(dtype=float)
    frame = pd.DataFrame(encoded, index=rows.index)
    levels = {attribute: [str(v) for v in _levels(rows[attribute])]
              for attribute, level in meaning.values() if level is not None}
    return EncodedAttributes(frame, groups, levels)


def _encode_named(rows: pd.DataFrame, options: dict, wording: _Wording,
                  exact: bool = False) -> EncodedAttributes:
    """:func:`_encode`, a text attribute's missing values named with the source."""
    try:
        return _encode(rows, options, wording, exact=exact)
    except DataError as error:
        if error.rule != "missing_values":
            raise
        named = DataError(f"{wording.name}: {str(error).removeprefix('one_hot: ')}",
                          column=error.column, rule=error.rule, n_rows=error.n_rows)
        named.examples = list(error.examples)
        raise named from error


def _refuse_new_levels(found: dict, fitted: dict, name: str, fitted_by: str,
                       remedy: str) -> None:
    """Refuse text attribute levels a model was not fitted with: a new level would
    silently count as the reference level. ``fitted_by`` ends in was/were."""
    for attribute, levels in found.items():
        known = fitted.get(attribute)
        if known is None:
            continue
        new = [level for level in levels if level not in known]
        if new:
            raise DataError(
                f"Attribute {attribute!r} of {name} has level(s) {new} that {fitted_by} not "
                f"fitted with (levels {known}): their customers would count as the "
                f"reference level {known[0]!r}. {remedy}", column=attribute,
                rule="unknown_level")


def _names(value, group: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    names = list(value)
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"{group} must be covariate names (text), got {names!r}.")
    return names


def encode_attributes(attributes: pd.DataFrame, purchase: Sequence[str] | str | None = None,
                      dropout: Sequence[str] | str | None = None,
                      spend: Sequence[str] | str | None = None, *, customers=None,
                      exact: bool = False, levels: dict | None = None) -> EncodedAttributes:
    """The covariate columns of customer attributes, for the covariates named.

    A name is an attribute or one level of a text attribute:

    - a numeric (or boolean) attribute is one column, its values as floats;
    - a text attribute is all its 0/1 columns but the reference level's, named
      ``attribute_level`` as :func:`clvmodels.one_hot` names them (the first
      level in sorted order is the reference: a customer with every column 0);
    - ``attribute_level`` (e.g. ``channel_web``) is that level's 0/1 column alone
      (web against every other level).

    With no name in any group, every attribute is a purchase covariate (the
    command line's default).

    Parameters
    ----------
    attributes
        One row per customer, indexed by customer id (:func:`read_attributes`).
    purchase, dropout, spend
        The covariates of the purchase rate, of the dropout and of the spend per
        transaction (a name or a list of names); the models'
        ``purchase_covariates``, ``dropout_covariates`` and ``spend_covariates``.
    customers
        The customers to encode for: a summary (its index) or their ids. Every one
        needs a row (refused as :func:`clvmodels.join_attributes` refuses it),
        rows of other customers are left out, and the levels of a text attribute
        are those these customers have. Without it every row is encoded.
    exact
        The names are encoded columns, e.g. a fitted model's
        ``covariate_columns()``: each must be a numeric attribute or a level's
        0/1 column, which is all zeros when none of these customers has the level
        (a model predicts new customers with the columns it was fitted with).
    levels
        The ``levels`` of the encoding a model was fitted with: a level of a text
        attribute outside them is refused (its customers would silently count as
        the reference level).

    Returns
    -------
    EncodedAttributes
        ``columns`` (a DataFrame with the index of ``customers``, or of
        ``attributes``), ``groups`` (``{"purchase": [...], "dropout": [...],
        "spend": [...]}``, the columns of each group) and ``levels`` (the sorted
        levels of the text attributes used, as text).

    Raises
    ------
    DataError
        Naming the covariate and, for a frame of :func:`read_attributes`, the
        file: ``missing_columns`` (an unknown covariate; the message lists the
        attributes), ``missing_values`` (a text attribute with missing values,
        counted: fill them first), ``constant_covariate`` (a text attribute with
        one level), ``not_numeric`` (dates), ``ambiguous_covariate``,
        ``duplicate_columns``, ``unknown_level``, and those of
        :func:`clvmodels.join_attributes` with ``customers``. Missing values of a
        numeric attribute are kept as NaN: the models refuse them (``not_finite``).

    Examples
    --------
    >>> import pandas as pd
    >>> from clvmodels import BetaGeoModel, encode_attributes, join_attributes
    >>> attributes = pd.DataFrame({"channel": ["web", "shop", "app"], "age": [31, 45, 27]},
    ...                           index=pd.Index(["a", "b", "c"], name="customer_id"))
    >>> encoded = encode_attributes(attributes, purchase=["channel"], dropout="age")
    >>> encoded.groups
    {'purchase': ['channel_shop', 'channel_web'], 'dropout': ['age'], 'spend': []}
    >>> encoded.columns["channel_web"].tolist()
    [1.0, 0.0, 0.0]
    >>> encoded.levels
    {'channel': ['app', 'shop', 'web']}

    Then ``summary = join_attributes(summary, encoded.columns)`` and
    ``BetaGeoModel(purchase_covariates=encoded.groups["purchase"],
    dropout_covariates=encoded.groups["dropout"]).fit(summary)``.
    """
    given = {"purchase": _names(purchase, "purchase"), "dropout": _names(dropout, "dropout"),
             "spend": _names(spend, "spend")}
    if all(names is None for names in given.values()):
        given = {"purchase": [], "dropout": None, "spend": None, "default": True}
    rows, whose = attributes, "its"
    if customers is not None:
        frame = (customers if isinstance(customers, pd.DataFrame)
                 else pd.DataFrame(index=pd.Index(customers)))
        source = attributes.attrs.get("source")
        rows = _matched(attributes, frame, f"attributes file {source}" if source else None,
                        attributes.index.name or "index")
        whose = "the"
    wording = _Wording.of(attributes, customers=whose)
    encoded = _encode_named(rows, given, wording, exact=exact)
    if levels is not None:
        _refuse_new_levels(encoded.levels, levels, wording.name, "the model was",
                           "Refit the model, or give these customers a level it knows.")
    return encoded
