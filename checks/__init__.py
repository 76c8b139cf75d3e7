"""checks: Great Expectations suites as first-class controls on Spark.

Suites live in version-controlled YAML (`checks/suites/<table>.yml`, see checks/README.md), are loaded
into a validated `SuiteSpec`, bound to the schema of the partition being processed and run by GX on the
Spark DataFrame. Every outcome, pass or fail, comes back as a `CheckResult` carrying the suite's hash.
"""
from pathlib import Path

from checks.ratio import ratio_check
from checks.result import CheckResult, ExpectationOutcome
from checks.spec import ExpectationSpec, SuiteSpec, load_suite, parse_suite
from checks.suggest import suggest_suite
from checks.validate import validate_partition

SUITES_DIR = Path(__file__).parent / "suites"

__all__ = ["CheckResult", "ExpectationOutcome", "ExpectationSpec", "SuiteSpec", "SUITES_DIR", "load_suite",
           "parse_suite", "ratio_check", "suggest_suite", "validate_partition"]
