"""The export's per-invocation budget fits the functions' memory (chalicelib/export/budget.py)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.export import budget
from chalicelib.settings import from_env
from deploy.package import APP_DIR

CONFIG = json.loads((APP_DIR / ".chalice" / "config.json").read_text())


def peak_mib(events: int) -> float:
    """The measured line (docs/performance.md, bench_export_memory)."""
    return budget.BASE_MIB + events * budget.KIB_PER_EVENT / 1024


def test_the_configured_budget_fits_both_export_functions_with_margin() -> None:
    configured = int(CONFIG["environment_variables"]["CLICKSTREAM_EXPORT_BUDGET_EVENTS"])
    for function in ("export_events", "export_worker"):
        memory = CONFIG["lambda_functions"][function]["lambda_memory_size"]
        assert configured <= budget.events_for_memory(memory), function
        assert peak_mib(configured) <= 0.6 * memory, f"{function}: {peak_mib(configured):.0f} MiB planned of {memory} MB"


def test_the_default_budget_is_the_configured_one() -> None:
    assert from_env({}).export_budget_events == int(CONFIG["environment_variables"]["CLICKSTREAM_EXPORT_BUDGET_EVENTS"])


@given(st.integers(min_value=128, max_value=10_240), st.integers(min_value=1, max_value=10**8))
def test_the_effective_budget_never_plans_more_than_memory_holds(memory: int, configured: int) -> None:
    effective = budget.effective_budget(configured, memory)
    assert effective <= configured
    assert effective == budget.events_for_memory(memory) or effective == configured
    if budget.events_for_memory(memory) > 1_000:
        assert peak_mib(effective) <= memory * budget.USABLE_FRACTION


def test_outside_lambda_the_configured_budget_stands() -> None:
    assert budget.effective_budget(5, 0) == 5
    assert from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}).lambda_memory_mb == 1024
