"""The data-quality rule set of silver, defined once.

Each rule is a name, a SQL boolean that is true when a row PASSES, and an action with Lakeflow's
expectation semantics:

* ``warn`` (``dp.expect``) — the row is kept; the failure is counted;
* ``drop`` (``dp.expect_or_drop``) — the row leaves silver for ``silver_quarantine``, which lists
  the names of the rules it failed;
* ``fail`` (``dp.expect_or_fail``) — the update stops with a message naming the rule. Only
  invariants that no input can break are ``fail`` rules: bad events must never stop the pipeline.

Conditions are written NULL-safe (``coalesce(..., false)``) so that a rule passes or fails, never
evaluates to NULL, and they only use columns that silver keeps, so ``platform.expectations`` can
check them on the table itself on both platforms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

from clickstream import contract
from clickstream.config import PipelineSettings

WARN = "warn"
DROP = "drop"
FAIL = "fail"
ACTIONS = (WARN, DROP, FAIL)


@dataclass(frozen=True)
class Rule:
    name: str
    condition: str  # SQL boolean over bronze / silver columns; true = the row passes
    action: str
    description: str = ""

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"rule {self.name}: action must be one of {ACTIONS}")


def silver_rules(settings: PipelineSettings) -> tuple[Rule, ...]:
    """The rules of ``silver_events`` (and, for the drop rules, of ``silver_quarantine``)."""
    known_types = ", ".join(f"'{t}'" for t in contract.EVENT_TYPES)
    tolerance = settings.future_tolerance
    return (
        Rule(
            "known_event_type",
            f"coalesce(event_type IN ({known_types}), false)",
            DROP,
            "event_type is one of the contract's event types",
        ),
        Rule("has_event_id", "event_id IS NOT NULL", DROP, "the event carries an event_id"),
        Rule(
            "parseable_event_time",
            "event_ts IS NOT NULL",
            DROP,
            "event_ts was present and parsed as a timestamp",
        ),
        Rule(
            "event_time_not_in_future",
            # Relative to the file's landing time, so the outcome never depends on when we run.
            f"coalesce(event_ts <= _landed_at + INTERVAL {tolerance}, true)",
            DROP,
            f"event_ts at most {tolerance} after its file landed",
        ),
        Rule(
            "non_negative_price_quantity",
            "coalesce(properties.price >= 0, true) AND coalesce(properties.quantity >= 0, true)",
            DROP,
            "price and quantity, when present, are not negative",
        ),
        Rule(
            "purchase_has_order",
            "coalesce(event_type <> 'purchase', true) OR "
            "(properties.order_id IS NOT NULL AND properties.revenue IS NOT NULL)",
            DROP,
            "a purchase carries an order_id and its revenue",
        ),
        Rule(
            "no_corrupt_record",
            "_corrupt_record IS NULL",
            DROP,
            "the line was a JSON object in valid UTF-8",
        ),
        Rule(
            "no_rescued_data",
            "_rescued_data IS NULL",
            WARN,
            "every field matched the contract (else it sits in _rescued_data)",
        ),
        Rule(
            "logged_in_has_user_id",
            "NOT coalesce(user.is_logged_in, false) OR user.user_id IS NOT NULL",
            WARN,
            "a logged-in event names its user",
        ),
        Rule(
            "has_lineage",
            # Set by bronze for every row: only a bug in our own transforms can break it.
            "_source_file IS NOT NULL AND _ingested_at IS NOT NULL",
            FAIL,
            "every silver row can be traced back to its bronze row",
        ),
    )


def of_action(rules: Iterable[Rule], action: str) -> tuple[Rule, ...]:
    return tuple(r for r in rules if r.action == action)


def as_dict(rules: Iterable[Rule]) -> dict[str, str]:
    """``{name: condition}``: the shape ``dp.expect_all*`` take."""
    return {r.name: r.condition for r in rules}


def passes_all(rules: Sequence[Rule]) -> str:
    """One SQL boolean: the row passes every rule of ``rules`` (true when there are none)."""
    return " AND ".join(f"({r.condition})" for r in rules) or "true"


def failed_rules(rules: Sequence[Rule]) -> Column:
    """The names of the rules a row fails, in rule-set order (an empty array when none)."""
    names = [F.when(~F.expr(r.condition), F.lit(r.name)) for r in rules]
    if not names:
        return F.array().cast("array<string>")
    return F.filter(F.array(*names), lambda name: name.isNotNull())
