"""Mutation testing of the core modules with mutmut, one module at a time.

Each target names the file to mutate, the test files that guard it (mutmut runs
only the tests that reach a mutated function) and optionally which functions to
mutate. A target runs in its own copy of the project under ``build/mutation/``,
with the ``[tool.mutmut]`` table of ``pyproject.toml`` narrowed to it, so a run
never touches the working tree.

Usage (``make mutate`` runs every target; ``MUTATE=units`` picks some)::

    python tests/mutation/mutate.py units backtest_metrics
    python tests/mutation/mutate.py --list

Each run writes ``tests/mutation/results/<target>.txt``: the score (killed or
timed out / tested) and the diff of every surviving mutant. Summarise the
survivors in ``tests/mutation/README.md`` (fixed, equivalent, or accepted and why).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "mutation"
RESULTS = Path(__file__).resolve().parent / "results"

#: The tests of test_probability_alive_later.py but its report test (a full report per mutant).
_ALIVE_LATER = [f"tests/test_probability_alive_later.py::{name}" for name in (
    "test_the_mean_over_customers_is_the_share_alive_later",
    "test_fitted_models_predict_alive_later",
    "test_bgnbd_one_time_buyers_are_no_longer_certain_to_be_alive")]

_DATA_TESTS = ["tests/test_data.py", "tests/test_mutation_kills_data.py"]

#: test_data.py but its Hypothesis property test (15 s) and its comparison of the
#: engines on the whole CDNOW log (5 s): the rest runs in about 10 s, the kill tests too.
_DATA_FAST = [*(f"tests/test_data.py::{name}" for name in (
    "test_bundled_cdnow_matches_the_published_files", "test_reproduces_the_published_cdnow_summary",
    "test_holdout_columns_against_a_direct_count", "test_agrees_with_lifetimes",
    "test_time_units_scale_recency_and_T", "test_purchase_days_are_the_same_from_both_engines",
    "test_customers_are_sorted_and_none_is_lost", "test_without_amount_column",
    "test_the_input_is_not_mutated", "test_text_and_numeric_timestamps",
    "test_timezone_aware_timestamps_are_converted_to_utc",
    "test_mixed_aware_and_naive_timestamps_are_refused", "test_merge_within_hour_and_none",
    "test_bad_input_names_column_rule_and_count", "test_observation_end_before_first_purchase",
    "test_calibration_end_after_observation_end", "test_calibration_end_before_first_purchase",
    "test_exclusions_are_counted_never_silent", "test_returns_drop_and_net",
    "test_missing_file_and_unknown_format", "test_csv_with_bad_amounts_is_reported_by_duckdb")),
    "tests/test_mutation_kills_data.py"]


def _data_patterns(*names: str) -> list[str]:
    """Mutant name patterns of data.py's functions (``ǁClassǁmethod`` for methods)."""
    return [f"clvmodels.data.x{'' if n.startswith('ǁ') else '_'}{n}__mutmut_*" for n in names]


#: target -> (file to mutate, guarding test files, mutant name patterns or None for all).
TARGETS: dict[str, tuple[str, list[str], list[str] | None]] = {
    "units": ("clvmodels/units.py",
              ["tests/test_data.py", "tests/test_clv.py", "tests/test_cli_options.py"], None),
    "backtest_metrics": (
        "clvmodels/backtest.py",
        # Not the rest of test_backtest.py: its GBM backtests take minutes per mutant.
        ["tests/test_backtest.py::test_metrics_against_direct_computations",
         "tests/test_weak_spots.py"],
        ["clvmodels.backtest.x__gain_share__mutmut_*", "clvmodels.backtest.x__gini__mutmut_*",
         "clvmodels.backtest.x__auc__mutmut_*", "clvmodels.backtest.x_score_predictions__mutmut_*",
         "clvmodels.backtest.xǁBacktestResultǁwinners__mutmut_*",
         "clvmodels.backtest.xǁBacktestResultǁleaderboard__mutmut_*"]),
    # The number formats of the report (fast tests only: the full report tests
    # build a backtest per mutant).
    "report_formatting": (
        "clvmodels/report/tables.py",
        ["tests/test_report.py::test_number_formats", "tests/test_weak_spots.py"],
        ["clvmodels.report.tables.x_format_number__mutmut_*",
         "clvmodels.report.tables.x_format_metric__mutmut_*",
         "clvmodels.report.tables.x_unit_name__mutmut_*",
         "clvmodels.report.tables.x__exclusions_text__mutmut_*",
         "clvmodels.report.tables.x_data_summary_table__mutmut_*"]),
    "report_tables": ("clvmodels/report/tables.py",
                      ["tests/test_report.py", "tests/test_weak_spots.py"], None),
    # data.py has 3,419 mutants (days on this machine with every test that reaches
    # them), so it is scored by function group, with the fast value-asserting tests
    # (not test_data_properties.py nor test_retail_logs.py: seconds per mutant each).
    "data": ("clvmodels/data.py", _DATA_TESTS, None),
    # The cleaning rules and their counts, exact cent sums, netted returns.
    "data_rules": ("clvmodels/data.py", _DATA_TESTS, _data_patterns(
        "_rule_counts_report", "_excluded_frame", "ǁ_PandasLogǁapply_row_options",
        "_to_cents", "_rounded_mask", "_zero_mask", "_check_exact_sums", "_net_returns",
        "_consume")),
    # The counts of attrs["exclusions"] and the customers left out (data_rules' run
    # on the shared machine was stopped before reaching them).
    "data_counts": ("clvmodels/data.py", _DATA_TESTS, _data_patterns(
        "_rule_counts_report", "_excluded_frame")),
    # The summary's columns from the engines' arrays, and the calibration end.
    "data_finish": ("clvmodels/data.py", _DATA_TESTS, _data_patterns(
        "_finish", "_calibration_tick")),
    # The pandas summary and the calibration/holdout split.
    "data_pandas": ("clvmodels/data.py", _DATA_TESTS, _data_patterns(
        "ǁ_PandasLogǁdays", "ǁ_PandasLogǁsummarise", "_finish", "_calibration_tick")),
    # The date handling: ISO text read field by field (pandas engine), text with
    # datetime_format=, aware timestamps to naive UTC, the period ends as ticks and back,
    # the date rules' counts of the SQL engine. Fast tests only (see _DATA_FAST).
    "data_dates": ("clvmodels/data.py", [*_DATA_FAST, "tests/test_mutation_kills_data_dates.py"],
                   _data_patterns(
                       "_parse_iso", "ǁ_PandasLogǁ_parse_dates", "_parse_text_dates",
                       "_to_naive_utc", "_tick_to_str", "_to_tick", "_settle_date_counts")),
    # What the runs of data_rules and data_pandas never reached: cents and their
    # rounding, zero amounts, the exact-sum limit, the pandas engine's row options,
    # rule counts, examples of bad rows and its columns.
    "data_rules_rest": ("clvmodels/data.py",
                        [*_DATA_FAST, "tests/test_mutation_kills_data_dates.py"],
                        _data_patterns(
                            "_to_cents", "_zero_mask", "_check_exact_sums",
                            "ǁ_PandasLogǁapply_row_options", "ǁ_PandasLogǁrule_counts",
                            "ǁ_PandasLogǁexamples", "ǁ_PandasLogǁcheck_columns")),
    # Scored per file too (the results file has one line per likelihood module).
    "likelihoods": ("clvmodels/likelihoods/*",
                    ["tests/test_beta_geo.py", "tests/test_modified_beta_geo.py",
                     "tests/test_gamma_gamma.py", "tests/test_pareto_nbd_numerics.py",
                     "tests/test_mle_gradients.py", "tests/test_shifted_beta_geo.py",
                     "tests/test_probability_alive_later.py",
                     "tests/test_mutation_kills_likelihoods.py"], None),
    # Not the holdout-coverage test of test_predictive_intervals.py (minutes per mutant)
    # nor test_cli_options.py (a CLI run per test; the CLI has its own target).
    # The same, one likelihood module per target (each runs in minutes, not hours).
    "likelihoods_gamma_gamma": (
        "clvmodels/likelihoods/gamma_gamma.py",
        ["tests/test_gamma_gamma.py", "tests/test_mle_gradients.py",
         "tests/test_mutation_kills_likelihoods.py"], None),
    "likelihoods_shifted_beta_geo": (
        "clvmodels/likelihoods/shifted_beta_geo.py",
        ["tests/test_shifted_beta_geo.py", "tests/test_mutation_kills_likelihoods.py"], None),
    "likelihoods_modified_beta_geo": (
        "clvmodels/likelihoods/modified_beta_geo.py",
        ["tests/test_modified_beta_geo.py", "tests/test_mle_gradients.py",
         "tests/test_mutation_kills_likelihoods.py"], None),
    # The predictions and the simulator, not the log-likelihood and its gradients
    # (every fit test reaches them: about a minute per mutant on this machine).
    "likelihoods_beta_geo": (
        "clvmodels/likelihoods/beta_geo.py",
        ["tests/test_beta_geo.py", "tests/test_mle_gradients.py", *_ALIVE_LATER,
         "tests/test_mutation_kills_likelihoods.py"],
        [f"clvmodels.likelihoods.beta_geo.x_{name}__mutmut_*" for name in (
            "probability_alive_at", "expected_purchases_alive", "conditional_expected_purchases",
            "expected_purchases_if_alive", "expected_purchases", "probability_of_purchases_alive",
            "probability_of_purchases", "conditional_probability_of_purchases",
            "loglik_count_terms_grad", "random")]),
    # The formula tests of test_beta_geo.py and test_pareto_nbd_numerics.py, not their
    # fits (a CDNOW fit per mutant).
    # BG/NBD's log-likelihood, gradients and P(alive) with the formula tests only (the
    # fits of test_beta_geo.py and test_mle_gradients.py take a minute per mutant).
    "likelihoods_beta_geo_loglik": (
        "clvmodels/likelihoods/beta_geo.py",
        ["tests/test_beta_geo.py::test_hardie_num_error_check_values",
         "tests/test_beta_geo.py::test_probability_alive_is_a_probability",
         "tests/test_mutation_kills_likelihoods.py"],
        [f"clvmodels.likelihoods.beta_geo.x_{name}__mutmut_*" for name in (
            "loglik_count_terms", "loglik_timing_terms", "loglik_timing_terms_grad",
            "_count_terms_grad", "_timing_terms_grad", "loglik", "probability_alive")]),
    "likelihoods_math": (
        "clvmodels/likelihoods/_math.py",
        [*(f"tests/test_beta_geo.py::{name}" for name in (
            "test_hardie_num_error_check_values",
            "test_published_purchase_probabilities_with_rounded_parameters",
            "test_probability_alive_is_a_probability",
            "test_expected_purchases_start_at_zero_and_grow",
            "test_purchase_probabilities_sum_to_one",
            "test_formulas_do_not_depend_on_the_time_unit",
            "test_extreme_customers_give_finite_predictions",
            "test_removable_singularities_at_a_equal_one_and_a_plus_b_equal_one",
            "test_expectation_where_scipy_hyp2f1_degenerates")),
         *(f"tests/test_pareto_nbd_numerics.py::{name}" for name in (
             "test_math_namespace_contract", "test_pytensor_engine_value_and_gradient",
             "test_loglik_matches_quadrature", "test_pmf_matches_quadrature",
             "test_extreme_inputs_stay_finite")),
         "tests/test_mutation_kills_likelihoods.py"], None),
    # The likelihood and the predictions built on I(kappa, m, e), not I's own series and
    # quadrature (log_hyp_integral, _log_I_numpy and their helpers: not scored yet).
    "likelihoods_pareto_nbd": (
        "clvmodels/likelihoods/pareto_nbd.py",
        ["tests/test_pareto_nbd_numerics.py", *_ALIVE_LATER,
         "tests/test_mutation_kills_likelihoods.py"],
        [f"clvmodels.likelihoods.pareto_nbd.x_{name}__mutmut_*" for name in (
            "_log_phi", "loglik_count_terms", "loglik_timing_terms", "loglik", "_f",
            "_log_alive_kernel", "probability_alive", "probability_alive_at", "_log_growth",
            "expected_purchases", "expected_purchases_new_customer",
            "conditional_expected_purchases", "_log_finite_integral", "_probability_zero",
            "probability_of_purchases", "_log_death_integral", "probability_no_purchase",
            "conditional_probability_of_purchases", "random")]),
    # The series and quadrature of I(kappa, m, e) that likelihoods_pareto_nbd leaves out.
    # Every Pareto/NBD test reaches them, so the fast value-asserting ones only: not the
    # fits (test_mle_reproduces_published_estimates, the fitted models of the alive-later
    # tests), not the pytensor tests (20 to 45 s each per mutant, compiling the graph;
    # hence _make_op_class and __getattr__, the Op's only code, are not scored), not
    # test_pmf_sums_to_one (7 s) or test_probability_alive_and_expectation_properties
    # (2.3 s, inequalities only). _zeta_cuts and _mid_nodes run at import, before any
    # test: only a test calling them again reaches their mutants.
    "likelihoods_pareto_I": (
        "clvmodels/likelihoods/pareto_nbd.py",
        [*(f"tests/test_pareto_nbd_numerics.py::{name}" for name in (
            "test_cdnow_loglik_clvtools", "test_fader_hardie_p_alive_and_expected_purchases",
            "test_agrees_with_lifetimes", "test_where_lifetimes_fails",
            "test_loglik_matches_quadrature", "test_log_hyp_integral_matches_quadrature",
            "test_repeated_rows_give_the_same_values", "test_pmf_matches_quadrature",
            "test_partials_of_log_hyp_integral", "test_extreme_inputs_stay_finite",
            "test_conditional_pmf_and_no_purchase", "test_math_namespace_contract")),
         "tests/test_probability_alive_later.py::"
         "test_the_mean_over_customers_is_the_share_alive_later",
         *(f"tests/test_mutation_kills_likelihoods.py::{name}" for name in (
             "test_log_hyp_integral_is_eulers_integral",
             "test_log_hyp_integral_of_many_repeated_rows_equals_the_rows_one_by_one",
             "test_pareto_nbd_loglik_is_the_integral_over_the_death_time",
             "test_pareto_nbd_predictions_equal_lifetimes",
             "test_pareto_nbd_purchase_probabilities_by_integration",
             "test_pareto_nbd_expected_purchases_across_s_and_horizons",
             "test_pareto_nbd_no_purchase_over_short_and_long_horizons",
             "test_pareto_nbd_pmf_of_many_rows_equals_the_rows_one_by_one",
             "test_pareto_nbd_alive_is_one_when_the_last_purchase_is_at_the_end",
             "test_pareto_nbd_pmf_rows_of_very_different_scales_do_not_interact")),
         "tests/test_mutation_kills_pareto_integral.py"],
        [f"clvmodels.likelihoods.pareto_nbd.x_{name}__mutmut_*" for name in (
            "log_hyp_integral", "_log_I_numpy", "_series", "_series_sum", "_quadrature",
            "_distinct", "_zeta_cuts", "_mid_nodes")]),
    "clv": ("clvmodels/clv.py",
            ["tests/test_clv.py", "tests/test_baseline.py",
             "tests/test_predictive_intervals.py::test_the_export_names_the_kind_of_interval",
             "tests/test_mutation_kills_clv.py"], None),
    # Not the CLI tests of test_export.py (subprocesses: mutmut cannot see what they reach).
    # The helpers of clv.py only (customer_lifetime_value and _predictive_bounds hold
    # 670 of its 1,111 mutants, hours on this machine).
    "clv_helpers": (
        "clvmodels/clv.py",
        ["tests/test_clv.py", "tests/test_baseline.py",
         "tests/test_predictive_intervals.py::test_the_export_names_the_kind_of_interval",
         "tests/test_mutation_kills_clv.py"],
        [f"clvmodels.clv.x_{name}__mutmut_*" for name in (
            "_aligned", "_purchases_kernel", "_spend_kernel", "_params", "_has_posterior",
            "_n_posterior", "_vectorised", "_clv_over_draws", "_model_draws", "_draws",
            "_flows")]),
    # The two big functions of clv.py, with the fast value-asserting tests that reach them
    # (not the CLI tests of test_baseline.py: 2 to 4 s each per mutant).
    "clv_main": (
        "clvmodels/clv.py",
        ["tests/test_mutation_kills_clv.py", "tests/test_mutation_kills_clv_main.py",
         "tests/test_clv.py",
         *[f"tests/test_baseline.py::{name}" for name in (
             "test_formula_from_values_follows_the_textbook",
             "test_formula_clv_against_a_direct_computation",
             "test_formula_clv_estimates_churn_or_defaults",
             "test_baseline_model_predictions",
             "test_baseline_estimates_churn_from_a_long_summary",
             "test_baseline_follows_model_conventions")]],
        [f"clvmodels.clv.x_{name}__mutmut_*" for name in (
            "customer_lifetime_value", "_predictive_bounds")]),
    "export": ("clvmodels/export.py",
               ["tests/test_export.py::test_every_customer_is_scored_and_matches_the_clv",
                "tests/test_export.py::test_unscorable_customers_keep_their_row_with_a_reason",
                "tests/test_export.py::test_chunked_files_equal_the_in_memory_table",
                # Not test_parquet_export_when_the_first_chunk_holds_no_scorable_customer
                # (590 chunks, 20 s per mutant): test_mutation_kills_export.py has a small one.
                *[f"tests/test_outputs_integrity.py::{name}" for name in (
                    "test_a_failure_mid_export_leaves_no_file",
                    "test_text_ids_are_written_back_identically",
                    "test_integer_ids_stay_integers", "test_zero_padded_ids_are_not_merged",
                    "test_mixed_id_types_are_refused",
                    "test_excluded_customers_of_the_calibration_period_keep_a_row",
                    "test_no_excluded_customers_means_no_extra_rows",
                    "test_files_equal_the_in_memory_export_for_any_chunking")],
                "tests/test_weak_spots.py::test_chunk_sizes_leaving_one_row_lose_no_customer",
                "tests/test_weak_spots.py::test_small_chunks_in_memory_keep_every_id_in_order",
                "tests/test_mutation_kills_export.py"], None),
    # The save/load tests only (the rest of test_model_api.py fits every model per mutant).
    "persistence": ("clvmodels/persistence.py",
                    ["tests/test_model_files.py", "tests/test_fit_status_files.py",
                     "tests/test_model_api.py::test_save_load_round_trip",
                     "tests/test_model_api.py::test_load_refuses_other_files",
                     "tests/test_mutation_kills_persistence.py"], None),
    # The option plumbing's helpers. mutmut 3 does not mutate decorated functions, so
    # the typer commands themselves are not scored: test_cli_options.py checks the
    # effect of each of their options instead (test_export.py's CLI tests run in
    # subprocesses, which mutmut cannot follow).
    # Of test_cli_options.py the tests that fit nothing but one model (its predict
    # tests fit a model per mutant; test_cli_option_plumbing.py covers their plumbing).
    "cli": ("clvmodels/cli.py",
            ["tests/test_mutation_kills_cli.py", "tests/test_cli_option_plumbing.py",
             *[f"tests/test_cli_options.py::{name}" for name in (
                 "test_fit_model_option_chooses_the_purchase_model",
                 "test_summary_column_format_and_returns_options",
                 "test_summary_time_unit_observation_end_and_calibration_end",
                 "test_baseline_options_change_the_clv_as_the_formula_says",
                 "test_baseline_period_and_conversion_rate",
                 "test_baseline_observation_end_drops_later_purchases")]],
            [f"clvmodels.cli.x_{name}__mutmut_*" for name in (
                "_check_range", "_check_clv_options", "_duration", "_cutoff_options",
                "_purchase_model", "_fit_pair", "_summarise_log", "_load_models",
                "_cleaning_options")]),
}

# The helpers of export.py, with the export's tests. predict_clv, check_id_types and
# _rows_to_export (451 of its 632 mutants) are reached by every export test: on the
# shared machine each of them takes a minute or more.
TARGETS["export_helpers"] = (
    TARGETS["export"][0], TARGETS["export"][1],
    [f"clvmodels.export.x_{name}__mutmut_*" for name in (
        "unscorable_reasons", "_type_name", "_arrow_schema", "_arrow_table")])

# The id check and the rows of excluded customers, with the export tests about ids
# and excluded customers only (the others run the whole CDNOW sample per mutant).
TARGETS["export_rows"] = (
    "clvmodels/export.py",
    ["tests/test_mutation_kills_export.py",
     *[f"tests/test_outputs_integrity.py::{name}" for name in (
         "test_mixed_id_types_are_refused", "test_integer_ids_stay_integers",
         "test_zero_padded_ids_are_not_merged",
         "test_excluded_customers_of_the_calibration_period_keep_a_row",
         "test_no_excluded_customers_means_no_extra_rows")],
     "tests/test_export.py::test_unscorable_customers_keep_their_row_with_a_reason"],
    [f"clvmodels.export.x_{name}__mutmut_*" for name in ("check_id_types", "_rows_to_export")])

# predict_clv (and _is_missing), the part of export.py the third round could not score.
# Fast tests only, about 5 s in all: test_mutation_kills_export_predict.py (models with
# parameters set by hand, summaries of a few customers) and test_mutation_kills_export.py;
# of the older export tests those that score at most the 2,357 CDNOW customers once or
# twice. Not the hypothesis tests of test_outputs_integrity.py (10 s each), nor its
# Parquet test with 590 chunks of 4 (45 s), nor test_dert.py (4 s of fits in its
# fixture), nor the CLI tests (subprocesses); of the chunk-size test of test_weak_spots
# the two cases that leave one row in the last chunk (the others repeat them).
TARGETS["export_predict"] = (
    "clvmodels/export.py",
    ["tests/test_mutation_kills_export_predict.py", "tests/test_mutation_kills_export.py",
     "tests/test_export.py::test_every_customer_is_scored_and_matches_the_clv",
     "tests/test_export.py::test_unscorable_customers_keep_their_row_with_a_reason",
     "tests/test_export.py::test_chunked_files_equal_the_in_memory_table",
     *[f"tests/test_outputs_integrity.py::{name}" for name in (
         "test_a_failure_mid_export_leaves_no_file", "test_integer_ids_stay_integers",
         "test_zero_padded_ids_are_not_merged", "test_mixed_id_types_are_refused",
         "test_excluded_customers_of_the_calibration_period_keep_a_row",
         "test_no_excluded_customers_means_no_extra_rows")],
     "tests/test_weak_spots.py::test_chunk_sizes_leaving_one_row_lose_no_customer[.csv-2356]",
     "tests/test_weak_spots.py::test_chunk_sizes_leaving_one_row_lose_no_customer"
     "[.parquet-1178]",
     "tests/test_weak_spots.py::test_small_chunks_in_memory_keep_every_id_in_order",
     "tests/test_predictive_intervals.py::test_the_export_names_the_kind_of_interval"],
    [f"clvmodels.export.x_{name}__mutmut_*" for name in ("predict_clv", "_is_missing")])

# data.py's reading, column spec and validation (data_io) and its reports, warnings and
# purchase days (data_reports): the functions every summary passes through, so each
# mutant runs most of the selection. The fast tests only: not test_data.py's Hypothesis
# property test nor its CDNOW engine comparison (15 s and 6 s per mutant), nor the
# test_retail_logs.py tests that clean a whole messy log, export a CSV or net cents over
# many orders (2 to 11 s each); test_cli_errors.py runs the CLI in subprocesses, which
# mutmut cannot follow. Of test_retail_logs.py the tests that exist both today and at
# 432af31 (the "before" revision of the data targets).
_DATA_IO_TESTS = [
    *(t for t in _DATA_FAST if t != "tests/test_mutation_kills_data.py"),
    *[f"tests/test_retail_logs.py::{name}" for name in (
        "test_a_cancellation_nets_against_its_order_else_the_most_recent_day",
        "test_a_log_of_returns_only_leaves_no_customer_in_either_engine",
        "test_a_return_larger_than_what_was_bought_before_it",
        "test_duplicates_keep_counts_and_drop_removes_them",
        "test_extreme_monetary_values_are_noted_not_changed",
        "test_missing_ids_error_names_the_option_and_drop_counts",
        "test_option_values_are_checked", "test_purchase_days_apply_the_same_rules",
        "test_returns_drop_says_the_cancelled_purchases_still_count",
        "test_zero_amounts_keep_counts_and_drop_removes_them")],
    "tests/test_mutation_kills_data.py", "tests/test_mutation_kills_data_io.py"]
TARGETS["data_io"] = ("clvmodels/data.py", _DATA_IO_TESTS, _data_patterns(
    "read_transactions", "_open_log", "_source_paths", "_make_spec", "_check_frame",
    "_check_columns", "_validate", "_summarise", "rfm_summary", "_unreadable",
    "_is_read_error", "_id_kind", "excluded_customers", "ǁExcludedCustomersǁ__eq__",
    "_refuse_no_ids_left", "_refuse_overflow", "_re2_matches", "_arrow_text"))
TARGETS["data_reports"] = ("clvmodels/data.py", _DATA_IO_TESTS, _data_patterns(
    "_raise_first_problem", "_warn_exclusions", "purchase_days", "_group_lines",
    "_extreme_monetary", "_order_codes", "_log_spend_sum"))

# The DuckDB engine of data.py: the methods of _DuckDBLog and its SQL helpers. A mutated
# SQL string is caught only by a test that runs engine="duckdb", and nearly every such
# test reaches check_columns, so each mutant runs the whole selection: the fast tests
# only. Not test_data.py's Hypothesis property test (14 s) nor its CDNOW engine
# comparison (5 s); not the memory-limit tests that run out of memory or run the CLI
# (9 s, 6 s); not test_log_spend_summary.py's engines-and-row-orders test (21 s); of
# test_retail_logs.py the small logs whose names 432af31 (the "before") has too (its
# messy-log, born-after-calibration and full-refund tests take 9 to 11 s, its CSV one 2 s).
TARGETS["data_duckdb"] = (
    "clvmodels/data.py",
    [*_DATA_FAST,
     *(f"tests/test_memory_limit.py::{name}" for name in (
         "test_memory_limit_reaches_duckdb",
         "test_the_default_is_an_eighth_of_the_machine_and_at_least_1gb",
         "test_a_bad_memory_limit_is_refused_before_reading",
         "test_the_summary_does_not_depend_on_the_limit",
         "test_a_statement_short_of_memory_is_retried_on_one_thread")),
     *(f"tests/test_log_spend_summary.py::{name}" for name in (
         "test_log_spend_equals_a_direct_computation_and_is_exact_over_many_files",
         "test_log_spend_is_in_currency_units_and_follows_the_first_transaction_option",
         "test_fixed_point_logs_round_half_up",
         "test_log_spend_needs_an_amount_column_and_a_bool")),
     *(f"tests/test_retail_logs.py::{name}" for name in (
         "test_duplicates_keep_counts_and_drop_removes_them",
         "test_zero_amounts_keep_counts_and_drop_removes_them",
         "test_missing_ids_error_names_the_option_and_drop_counts",
         "test_a_cancellation_nets_against_its_order_else_the_most_recent_day",
         "test_a_return_larger_than_what_was_bought_before_it",
         "test_returns_drop_says_the_cancelled_purchases_still_count",
         "test_a_log_of_returns_only_leaves_no_customer_in_either_engine")),
     "tests/test_mutation_kills_data_duckdb.py"],
    _data_patterns(
        *(f"ǁ_DuckDBLogǁ{name}" for name in (
            "__init__", "check_columns", "apply_row_options", "_make_days", "days",
            "summarise", "rule_counts", "examples", "_customer_info", "_types", "_describe",
            "tick_range", "__exit__")),
        "ǁ_OneThreadWhenShortǁ*", "_iso_sql", "_sql_str", "_ident", "_rounded_sql",
        "_zero_sql", "_log_fixed", "default_memory_limit"))

# The Gamma-Gamma likelihood of the individual repeat amounts (the whole module, 130
# lines). Every test of test_gamma_gamma_individual.py but the posterior predictive
# check (5 s per mutant, a Bayesian fit); its fits on CDNOW take 0.4 s or less.
# test_mle_gradients.py checks GammaGammaModel (gamma_gamma.py) only: it never
# reaches this module, so it is not in the selection.
TARGETS["likelihoods_gamma_gamma_individual"] = (
    "clvmodels/likelihoods/gamma_gamma_individual.py",
    [*(f"tests/test_gamma_gamma_individual.py::{name}" for name in (
        "test_loglik_is_the_integral_of_the_per_transaction_gamma_densities",
        "test_loglik_is_the_mean_density_times_the_dirichlet_of_the_shares",
        "test_analytic_gradients_equal_finite_differences",
        "test_fit_maximises_a_hand_written_likelihood_of_the_raw_amounts",
        "test_simulated_amounts_recover_the_parameters",
        "test_money_units_change_v_and_the_log_likelihood_by_the_jacobian",
        "test_predictions_and_clv_are_those_of_gamma_gamma_with_the_same_parameters",
        "test_a_summary_without_the_column_names_the_option",
        "test_zero_spend_days_are_refused_or_excluded_and_counted",
        "test_log_spend_from_another_summary_is_refused",
        "test_random_simulates_the_amounts_the_likelihood_describes",
        "test_clone_refit_and_unfitted_use",
        "test_map_with_flat_priors_is_the_maximum_likelihood_fit",
        "test_compare_refuses_the_mean_and_the_per_transaction_likelihoods_together",
        "test_spend_covariates_are_recovered_from_individual_amounts")),
     "tests/test_mutation_kills_gamma_gamma_individual.py"], None)

# BG/BB (the discrete-time model), never scored before: the whole module. Of
# test_beta_geo_beta_binom.py every test but the pytensor gradient test (28 s per mutant,
# compiling the graph), the PyMC model test (4 s) and the NUTS test (marked slow); its
# fits of the donations data take 0.1 s. test_bgbb_clv.py (0.2 s) reaches the DERT and
# expected purchases through the CLV; test_discrete_summary.py builds summaries only and
# never reaches the module.
TARGETS["likelihoods_beta_geo_beta_binom"] = (
    "clvmodels/likelihoods/beta_geo_beta_binom.py",
    [*(f"tests/test_beta_geo_beta_binom.py::{name}" for name in (
        "test_reproduces_the_published_donations_fit", "test_lifetimes_finds_the_same_maximum",
        "test_row_level_and_compressed_fits_agree",
        "test_predictions_equal_lifetimes_on_the_donations",
        "test_unconditional_distribution_equals_lifetimes",
        "test_formulas_equal_lifetimes_for_any_history",
        "test_closed_form_of_the_alive_opportunities_is_the_sum",
        "test_purchase_distribution_sums_to_one_and_has_the_expected_mean",
        "test_alive_probabilities_fall_and_purchases_grow_with_the_horizon",
        "test_dert_is_the_discounted_sum_of_expected_transactions",
        "test_horizons_are_whole_periods",
        "test_bad_rows_raise_a_data_error_naming_column_and_rule", "test_simulate_and_recover",
        "test_api_clone_unfitted_save_load_and_intervals",
        "test_the_model_is_exported_and_registered",
        "test_map_with_flat_priors_is_the_maximum_likelihood_fit",
        "test_simulate_module_draws_customers_the_model_recovers",
        "test_posterior_predictive_reproduces_the_observed_frequencies")),
     "tests/test_bgbb_clv.py", "tests/test_mutation_kills_beta_geo_beta_binom.py"], None)

# The rest of report/tables.py, beyond report_formatting: the parameter, diagnostics,
# coverage and leaderboard tables, the gain curve, Markdown and the written files, the
# exclusion and note texts. The old report tests build a full backtest per mutant
# (seconds to minutes each), so the selection is test_mutation_kills_report_tables.py
# (one small BG/NBD backtest per module, then exact values) and the fast older tests
# that reach these functions: test_weak_spots.py (68 tests, 6 s in all, none over 0.5 s)
# and two tests of test_report.py that build no backtest.
TARGETS["report_tables_rest"] = (
    "clvmodels/report/tables.py",
    ["tests/test_mutation_kills_report_tables.py",
     "tests/test_report.py::test_number_formats",
     "tests/test_report.py::test_gain_curve_properties",
     "tests/test_weak_spots.py"],
    [f"clvmodels.report.tables.x_{name}__mutmut_*" for name in (
        "parameter_table", "diagnostics_table", "gain_curve", "to_markdown", "_markdown_cell",
        "write_tables", "_model_exclusions_text", "_notes_text", "_status",
        "interval_coverage_table", "report_tables", "_fitted_items", "fitted_components",
        "_summary_frame", "model_names", "_date", "cutoffs", "_plain_descriptions",
        "leaderboard_table", "_join_exclusions", "_is_missing")])

# The shared pieces of the models' random generators (likelihoods/_random.py: _shape,
# _bcast, _purchases_until, scalar_draws; Family is a dataclass, nothing to mutate). They
# are reached only through the likelihood modules' ``random`` (BG/NBD, MBG/NBD, Pareto/NBD,
# BG/BB, Gamma-Gamma, its per-transaction variant, sBG; simulate.py through BG/BB's), so the
# selection is the tests that call those, all fast (under 0.3 s each): the simulators'
# kill tests of the model files, the recovery tests that simulate a few thousand
# customers and fit them in a fraction of a second, the Bayesian engine's generator
# tests (not the rest of test_bayes.py: NUTS fits), test_mutation_kills_likelihoods_random.py,
# and test_simulate.py (mutmut runs only its tests that reach _random.py: the generators'
# scalar-parameter test, which reaches scalar_draws, and BG/BB's simulator).
TARGETS["likelihoods_random"] = (
    "clvmodels/likelihoods/_random.py",
    ["tests/test_mutation_kills_likelihoods_random.py",
     "tests/test_simulate.py",
     "tests/test_mutation_kills_likelihoods.py::"
     "test_the_bayesian_engines_simulators_follow_the_models",
     "tests/test_mutation_kills_likelihoods.py::"
     "test_simulators_broadcast_parameter_draws_and_follow_the_seed",
     "tests/test_mutation_kills_likelihoods.py::test_customers_who_never_drop_out_keep_buying",
     "tests/test_bayes.py::test_random_generators_follow_the_model",
     "tests/test_bayes.py::test_pareto_generator_follows_the_model",
     "tests/test_gamma_gamma.py::test_simulated_parameters_are_recovered",
     "tests/test_shifted_beta_geo.py::test_simulate_and_recover",
     "tests/test_beta_geo_beta_binom.py::test_simulate_and_recover",
     "tests/test_beta_geo_beta_binom.py::test_simulate_module_draws_customers_the_model_recovers",
     *(f"tests/test_mutation_kills_beta_geo_beta_binom.py::{name}" for name in (
         "test_random_draws_the_histories_with_their_probabilities",
         "test_random_extremes_and_per_customer_opportunities",
         "test_random_broadcasts_every_parameter_without_size", "test_random_of_no_customer")),
     "tests/test_gamma_gamma_individual.py::test_simulated_amounts_recover_the_parameters",
     "tests/test_gamma_gamma_individual.py::"
     "test_random_simulates_the_amounts_the_likelihood_describes",
     *(f"tests/test_mutation_kills_gamma_gamma_individual.py::{name}" for name in (
         "test_random_follows_the_model_step_by_step", "test_random_sizes_and_broadcasting",
         "test_random_means_match_the_model", "test_random_broadcasts_every_parameter",
         "test_random_amounts_that_underflow_give_a_log_sum_of_minus_infinity_silently"))],
    None)

# Pareto/NBD's pytensor Op (LogHypIntegral: make_node, perform, infer_shape, L_op, built
# by _make_op_class) and its lazy creation (the module's __getattr__), which
# likelihoods_pareto_I left out. Only pytensor tests reach them, and the graphs of the
# model tests take 20 to 45 s per mutant to compile, so the selection is the tests that
# build the Op alone with FAST_COMPILE (1 to 3 s each): the Op test of
# test_mutation_kills_pareto_integral.py and test_mutation_kills_pareto_op.py. The class
# is made once per process and cached, so only a test that clears the cache
# (pareto_nbd._OP_CLASS) reaches a mutated _make_op_class in mutmut's forked runs.
TARGETS["likelihoods_pareto_op"] = (
    "clvmodels/likelihoods/pareto_nbd.py",
    ["tests/test_mutation_kills_pareto_op.py",
     "tests/test_mutation_kills_pareto_integral.py::"
     "test_the_pytensor_op_computes_the_numpy_values_and_partials",
     "tests/test_pareto_nbd_numerics.py::test_pytensor_engine_value_and_gradient"],
    ["clvmodels.likelihoods.pareto_nbd.x__make_op_class__mutmut_*",
     "clvmodels.likelihoods.pareto_nbd.x___getattr____mutmut_*"])

# The customer attributes (clvmodels/attributes.py, the whole module): reading the file
# with ids typed like the log's, and encoding covariates. Its tests were written with it,
# so its "before" is today's tests without test_mutation_kills_attributes.py
# (--tests-rev of the commit that added the target). The fast tests only: all of
# test_attributes.py (under 2 s each; one fits a small BG/NBD) and of
# test_cli_attributes.py all but its backtest (8 s: models fitted over a backtest) and
# its zero-padded-ids test (2.7 s: two CLI fits of the whole log).
TARGETS["attributes"] = (
    "clvmodels/attributes.py",
    ["tests/test_attributes.py",
     *(f"tests/test_cli_attributes.py::{name}" for name in (
         "test_fit_recovers_the_simulated_effect_and_saves_the_covariate_models",
         "test_covariate_options_take_attributes_or_their_levels",
         "test_predict_with_covariate_models_equals_the_python_api",
         "test_attribute_files_that_would_lose_covariates_are_refused",
         "test_covariate_models_need_their_attributes")),
     "tests/test_mutation_kills_attributes.py"], None)

STATUS = re.compile(r"^\s+(\S+): (\w[\w ]*)$")


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _workspace(target: str, tests_rev: str | None, name: str | None = None) -> Path:
    """A copy of the package, the tests and pyproject.toml with this target's config.

    ``tests_rev``: take the tests from this git revision (to score older tests
    against today's code). ``name``: the folder under ``build/mutation/`` (default:
    the target's).
    """
    path, tests, _ = TARGETS[target]
    work = BUILD / (name or target)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", "mutation")
    shutil.copytree(ROOT / "clvmodels", work / "clvmodels", ignore=ignore)
    if tests_rev is None:
        shutil.copytree(ROOT / "tests", work / "tests", ignore=ignore)
    else:
        archive = subprocess.run(["git", "archive", tests_rev, "tests"], cwd=ROOT,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
        shutil.rmtree(work / "tests" / "mutation", ignore_errors=True)
    _write_config(target, work)
    return work


def _write_config(target: str, work: Path) -> None:
    """The workspace's ``pyproject.toml`` with this target's ``[tool.mutmut]`` table: the
    target's test files that exist in the workspace, so a file added since is picked up."""
    path, tests, _ = TARGETS[target]
    tests = [t for t in tests if (work / t.split("::")[0]).exists()]
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    text = text.split("[tool.mutmut]", 1)[0].rstrip() + "\n\n" + "\n".join([
        "[tool.mutmut]",
        'source_paths = ["clvmodels"]',
        f"only_mutate = {_toml_list([path])}",
        f"pytest_add_cli_args_test_selection = {_toml_list(tests)}",
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-x", "-q"]',
        'do_not_mutate_patterns = ["warnings\\\\.warn\\\\(", "raise \\\\w+\\\\("]',
        # Generous limits: the machine is shared, a slow run is not a caught mutant.
        "timeout_multiplier = 30.0",
        "timeout_constant = 120.0",
        "",
    ])
    (work / "pyproject.toml").write_text(text, encoding="utf-8")


def _baseline(target: str) -> Path:
    """The run whose survivors ``--survivors-only`` re-tests: ``<target>.before.txt``, or,
    for a target scored without a "before" run, ``<target>.first.txt`` (a first run with
    the tests of its day, kept under that name; ``clv_main``)."""
    before = RESULTS / f"{target}.before.txt"
    first = RESULTS / f"{target}.first.txt"
    return first if not before.exists() and first.exists() else before


def _previous(results: Path) -> tuple[dict[str, int], dict[str, str], list[tuple[str, ...]]]:
    """Counts per status, the surviving mutants and the per-module scores of a results
    file (``results/<target>.before.txt`` and the like)."""
    text = results.read_text(encoding="utf-8")
    header = re.search(r"^score: .*\((.*)\)$", text, re.M)
    counts = {status: int(n) for status, n in
              (item.rsplit(" ", 1) for item in header.group(1).split(", "))}
    survivors = {name: status for name, status in
                 re.findall(r"^## (\S+): (\w[\w ]*)$", text, re.M) if status != "not checked"}
    modules = re.findall(r"^  (\S+): (\d+)/(\d+)", text, re.M)
    return counts, survivors, modules


_DIFFS = """
import json, sys
import mutmut.__main__ as m
from mutmut.mutation.diff_apply import get_diff_for_mutant
out = {}
for name in json.load(sys.stdin):
    out[name] = get_diff_for_mutant(name, path=m.find_mutant(name).path)
json.dump(out, sys.stdout)
"""


def _diffs(work: Path, env: dict, names: list[str]) -> dict[str, str]:
    """The diff of each mutant, in one process (``mutmut show`` takes a second each)."""
    if not names:
        return {}
    import json

    done = subprocess.run([sys.executable, "-c", _DIFFS], cwd=work, env=env, text=True,
                          input=json.dumps(names), capture_output=True, check=True)
    return json.loads(done.stdout)


def _listed_diffs(text: str) -> dict[str, str]:
    """The diff of each mutant listed in a results file."""
    blocks = re.findall(r"^# (\S+): \w[\w ]*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return {name: diff.strip() for name, diff in blocks}


def _check_names(work: Path, env: dict, text: str, names: list[str]) -> None:
    """Refuse to re-test in a new workspace if a mutant's name now means another change.

    mutmut numbers the mutants of a function in the order it generates them, so the
    names are stable while the function's code is; the diffs of the results file
    must be those of the regenerated mutants.
    """
    listed = _listed_diffs(text)
    now = _diffs(work, env, names)
    changed = sorted(n for n in names if now.get(n, "").strip() != listed.get(n))
    if changed:
        raise SystemExit(f"{len(changed)} mutant(s) of the results file are other changes in "
                         f"the regenerated workspace {work} (the code changed since?): "
                         f"{', '.join(changed)}")


def _mutmut(work: Path, env: dict, names: list[str], max_children: int, nice: int,
            run: bool = True) -> dict[str, str]:
    """Run mutmut on ``names`` (mutant names or patterns) in ``work`` (unless ``run`` is
    False: the last run's results) and return the status of every mutant it knows."""
    mutmut = [sys.executable, "-m", "mutmut"]
    if run:
        with open(work / "mutmut-run.log", "w", encoding="utf-8") as log:
            subprocess.run(["nice", "-n", str(nice), *mutmut, "run", "--max-children",
                            str(max_children), *names], cwd=work, env=env, check=False,
                           stdout=log, stderr=subprocess.STDOUT)
    listing = subprocess.run([*mutmut, "results", "--all", "true"], cwd=work, env=env,
                             capture_output=True, text=True, check=True).stdout
    return {m.group(1): m.group(2) for m in map(STATUS.match, listing.splitlines()) if m}


def run(target: str, max_children: int, tests_rev: str | None = None,
        survivors_only: bool = False, nice: int = 19, report_only: bool = False,
        retest: bool = False) -> Path:
    """Mutate ``target`` and write its results file.

    ``survivors_only``: re-test only the mutants that survived the "before" run
    (``results/<target>.before.txt``) with today's tests; the others were killed
    then, and adding tests cannot make them survive. Much faster than a full run.
    ``report_only``: write the results file of the last run in ``build/mutation/<target>``.
    ``retest``: re-test the survivors of ``results/<target>.txt`` with today's tests,
    in the target's workspace (its tests and test selection brought up to date) or, when
    there is none (a new machine), in a new one: mutmut generates the mutants again, and
    the run stops unless their diffs are those of the results file. The counts start
    from that file: its caught mutants stay caught.
    """
    _, _, patterns = TARGETS[target]
    fresh = False
    if retest:
        survivors_only = True
        work = BUILD / target
        if work.exists():
            shutil.rmtree(work / "tests")
            shutil.copytree(ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", ".hypothesis", "mutation"))
            _write_config(target, work)
        else:
            work, fresh = _workspace(target, None), True
    else:
        work = BUILD / target if report_only else _workspace(target, tests_rev)
    env = {**os.environ, "PYTHONPATH": str(work), "CI": "1"}
    mutmut = [sys.executable, "-m", "mutmut"]
    baseline = RESULTS / f"{target}.txt" if retest else _baseline(target)
    before_counts, before_survivors, before_modules = (
        _previous(baseline) if survivors_only else ({}, {}, []))
    names = sorted(before_survivors) if survivors_only else (patterns or [])
    if survivors_only and not names:
        names = ["none"]  # nothing to re-test
    if fresh and names != ["none"]:
        # Generate the mutants (and the tests' coverage) only: no mutant is named "none".
        with open(work / "mutmut-generate.log", "w", encoding="utf-8") as log:
            subprocess.run(["nice", "-n", str(nice), *mutmut, "run", "none"], cwd=work,
                           env=env, check=False, stdout=log, stderr=subprocess.STDOUT)
        _check_names(work, env, baseline.read_text(encoding="utf-8"), names)
    statuses = _mutmut(work, env, names, max_children, nice, run=not report_only)
    if survivors_only:
        statuses = {k: v for k, v in statuses.items() if k in before_survivors}
    elif patterns:
        from fnmatch import fnmatch

        statuses = {k: v for k, v in statuses.items() if any(fnmatch(k, p) for p in patterns)}
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    if survivors_only:  # the mutants killed in the before run stay killed
        for status in ("killed", "timeout"):
            if before_counts.get(status):
                counts[status] = counts.get(status, 0) + before_counts[status]
    tested = sum(n for s, n in counts.items() if s not in ("skipped", "not checked"))
    caught = counts.get("killed", 0) + counts.get("timeout", 0)
    tests_from = f" (tests of {tests_rev})" if tests_rev else ""
    if survivors_only:
        tests_from = " (survivors of the before run re-tested; the others were killed then)"
    lines = [f"# {target}: {TARGETS[target][0]}{tests_from}",
             f"score: {caught}/{tested} = {100 * caught / max(tested, 1):.1f}% "
             f"({', '.join(f'{s} {n}' for s, n in sorted(counts.items()))})", ""]
    per_module = {m: (int(c), int(t)) for m, c, t in before_modules}
    if not survivors_only:
        for module in sorted({name.split(".x")[0] for name in statuses}):
            mine = [v for k, v in statuses.items() if k.split(".x")[0] == module]
            per_module[module] = (sum(v in ("killed", "timeout") for v in mine),
                                  sum(v not in ("skipped", "not checked") for v in mine))
    else:  # the before run's caught mutants, plus the survivors caught now
        for name, status in statuses.items():
            module = name.split(".x")[0]
            caught_m, tested_m = per_module.get(module, (0, 0))
            per_module[module] = (caught_m + (status in ("killed", "timeout")), tested_m)
    if len(per_module) > 1:  # one score per module of the target
        for module, (caught_m, tested_m) in sorted(per_module.items()):
            lines.insert(-1, f"  {module}: {caught_m}/{tested_m} = "
                             f"{100 * caught_m / max(tested_m, 1):.1f}%")
    # Mutants a stopped run did not reach ("not checked") are counted, not listed.
    survivors = sorted(n for n, s in statuses.items()
                       if s not in ("killed", "timeout", "not checked"))
    diffs = _diffs(work, env, survivors)
    for name in survivors:
        lines += [f"## {name}: {statuses[name]}", f"# {name}: {statuses[name]}",
                  diffs.get(name, "").strip(), ""]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / (f"{target}.txt" if tests_rev is None else f"{target}.before.txt")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sys.stdout.write(lines[0] + "\n" + lines[1] + "\n")
    return out


def _merge(before_counts: dict[str, int], before_survivors, listed: dict[str, str],
           old_counts: dict[str, int], now: dict[str, str], names: list[str]):
    """The statuses of the before-survivors and the counts of ``rerun_only``: ``listed``
    (name -> status) and ``old_counts`` from ``<target>.txt``, ``now`` from the re-test
    of ``names``; the before run's caught mutants added to the counts."""
    statuses = {n: listed.get(n, "killed") for n in before_survivors}
    statuses.update({n: now.get(n, "not checked") for n in names})
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    unlisted = sum(n not in listed for n in names)
    still_unchecked = max(0, old_counts.get("not checked", 0) - unlisted)
    if still_unchecked:
        counts["killed"] = counts.get("killed", 0) - still_unchecked
        counts["not checked"] = counts.get("not checked", 0) + still_unchecked
    for status in ("killed", "timeout"):
        if before_counts.get(status):
            counts[status] = counts.get(status, 0) + before_counts[status]
    return statuses, {s: n for s, n in counts.items() if n}


def rerun_only(target: str, patterns: list[str], max_children: int = 1, nice: int = 19) -> Path:
    """Re-test some survivors of the "before" run and merge them into ``<target>.txt``.

    The survivors of ``results/<target>.before.txt`` whose names match ``patterns``
    (full names or ``fnmatch`` patterns) are re-tested in a fresh workspace,
    ``build/mutation/<target>-only`` (today's code and tests; the workspace of the last
    run is left as it is), and ``results/<target>.txt`` (a ``survivors_only`` run) is
    rewritten: the re-tested mutants get their new status, every other survivor keeps
    its status and diff from the file. For a run that was stopped, or whose tests
    have gained kill tests since, without re-running every survivor.

    The file lists the survivors only, so a name it does not list was killed or,
    in a stopped run, not checked. The names re-tested now that it does not list are
    taken to be its "not checked" mutants (the count it reports drops by that number,
    never below 0); re-test all of them, or the rest still counts as not checked.
    """
    from fnmatch import fnmatch

    before_counts, before_survivors, _ = _previous(_baseline(target))
    names = sorted(n for n in before_survivors if any(fnmatch(n, p) for p in patterns))
    if not names:
        raise SystemExit(f"no survivor of {target}.before.txt matches {patterns}")
    out = RESULTS / f"{target}.txt"
    text = out.read_text(encoding="utf-8")
    header = re.search(r"^score: .*\((.*)\)$", text, re.M)
    old_counts = {status: int(n) for status, n in
                  (item.rsplit(" ", 1) for item in header.group(1).split(", "))}
    blocks = {m.group(1): (m.group(2), m.group(0).rstrip("\n")) for m in re.finditer(
        r"^## (\S+): (\w[\w ]*)\n.*?(?=^## |\Z)", text, re.M | re.S)}
    work = _workspace(target, None, f"{target}-only")
    env = {**os.environ, "PYTHONPATH": str(work), "CI": "1"}
    now = {name: status for name, status in
           _mutmut(work, env, names, max_children, nice).items() if name in names}
    statuses, counts = _merge(before_counts, before_survivors,
                              {n: b[0] for n, b in blocks.items()}, old_counts, now, names)
    tested = sum(n for s, n in counts.items() if s not in ("skipped", "not checked"))
    caught = counts.get("killed", 0) + counts.get("timeout", 0)
    lines = [f"# {target}: {TARGETS[target][0]} (survivors of the before run re-tested; the "
             f"others were killed then; {len(names)} of them re-tested again with --only)",
             f"score: {caught}/{tested} = {100 * caught / max(tested, 1):.1f}% "
             f"({', '.join(f'{s} {n}' for s, n in sorted(counts.items()))})", ""]
    survivors = sorted(n for n, s in statuses.items()
                       if s not in ("killed", "timeout", "not checked"))
    diffs = _diffs(work, env, [n for n in survivors if n in now])
    for name in survivors:
        if name in now:
            lines += [f"## {name}: {statuses[name]}", f"# {name}: {statuses[name]}",
                      diffs.get(name, "").strip(), ""]
        else:
            lines += [blocks[name][1], ""]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sys.stdout.write(lines[0] + "\n" + lines[1] + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help=f"Some of {sorted(TARGETS)} (default: all).")
    parser.add_argument("--list", action="store_true", help="List the targets and stop.")
    parser.add_argument("--tests-rev", default=None,
                        help="Score the tests of this git revision instead (written as "
                             "<target>.before.txt).")
    parser.add_argument("--survivors-only", action="store_true",
                        help="Re-test only the survivors of <target>.before.txt with today's "
                             "tests (the others were killed then).")
    parser.add_argument("--retest", action="store_true",
                        help="Re-test the survivors of <target>.txt (a --survivors-only run) in "
                             "its workspace with today's tests.")
    parser.add_argument("--only", nargs="+", metavar="NAME", default=None,
                        help="Re-test only the survivors of <target>.before.txt matching these "
                             "mutant names or fnmatch patterns, in a fresh workspace "
                             "(build/mutation/<target>-only) with today's code and tests, and "
                             "merge them into <target>.txt (one target).")
    parser.add_argument("--report-only", action="store_true",
                        help="Write the results file of the last run (build/mutation/<target>) "
                             "without running mutmut again.")
    parser.add_argument("--nice", type=int, default=19,
                        help="Niceness of the mutation run (default 19: the machine is "
                             "shared; a run then waits for idle CPU).")
    parser.add_argument("--max-children", type=int, default=1,
                        help="Parallel mutant runs (default 1: the machine is shared).")
    args = parser.parse_args()
    if args.list:
        for name, (path, tests, _) in TARGETS.items():
            sys.stdout.write(f"{name}: {path} <- {' '.join(tests)}\n")
        return
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s) {sorted(unknown)}; see --list")
    if args.only is not None:
        if len(args.targets) != 1:
            parser.error("--only takes exactly one target")
        rerun_only(args.targets[0], args.only, args.max_children, args.nice)
        return
    for target in args.targets or list(TARGETS):
        run(target, args.max_children, args.tests_rev, args.survivors_only, args.nice,
            args.report_only, args.retest)


if __name__ == "__main__":
    main()
