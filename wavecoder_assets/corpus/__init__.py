"""Stage 1: raw (docstring, code) pairs from CodeSearchNet or local source trees, and the paper's filters.
No Dagster here."""

from wavecoder_assets.corpus.codesearchnet import read_codesearchnet
from wavecoder_assets.corpus.filters import (
                                             BLACKLIST,
                                             FilterResult,
                                             FilterSettings,
                                             apply_rules,
                                             blacklist_rule,
                                             code_predicate_rule,
                                             exact_dedup_rule,
                                             filter_rules,
                                             length_rule,
                                             near_dedup_rule,
)
from wavecoder_assets.corpus.harvest import default_roots, extract_functions, harvest_trees
from wavecoder_assets.corpus.records import RAW_CODE_SCHEMA, SkipLog
from wavecoder_assets.languages import LANGUAGES

__all__ = ["BLACKLIST", "LANGUAGES", "RAW_CODE_SCHEMA", "FilterResult", "FilterSettings", "SkipLog", "apply_rules",
           "blacklist_rule", "code_predicate_rule",
           "default_roots", "exact_dedup_rule", "extract_functions", "filter_rules", "harvest_trees", "length_rule",
           "near_dedup_rule", "read_codesearchnet"]
