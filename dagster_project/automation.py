"""When marts rebuild on their own.

Like ``AutomationCondition.eager()`` but without ``~any_deps_missing``: an optional extract
that never arrives for a year (military enlistment) must not hold the marts back forever.
Waiting for in-progress loads coalesces ten files landing at once into one rebuild.
"""

import dagster as dg

rebuild_after_loads = (
    (
        dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()
    ).since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("rebuild after loads")
