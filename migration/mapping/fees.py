"""The legacy app's fee rule: how a VAT-inclusive price splits into VAT, card fee and net.

For a gross amount G in whole won, with Decimal and ROUND_HALF_UP to the won:
VAT = G x 0.10 / 1.10, card fee = G x 0.035, net = G - VAT - card fee.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from migration.legacy.schema import FEE_COLUMNS

VAT_RATE = Decimal("0.10")
CARD_FEE_RATE = Decimal("0.035")
FEE_CALCULATION_METHOD = "inclusive"
ONE_WON = Decimal(1)


@dataclass(frozen=True)
class FeeBreakdown:
    gross_amount: Decimal
    vat_amount: Decimal
    card_fee_amount: Decimal
    net_amount: Decimal
    vat_rate: Decimal = VAT_RATE
    card_fee_rate: Decimal = CARD_FEE_RATE
    method: str = FEE_CALCULATION_METHOD

    @property
    def is_consistent(self) -> bool:
        return self.gross_amount == self.vat_amount + self.card_fee_amount + self.net_amount


def to_won(amount: Decimal) -> Decimal:
    return amount.quantize(ONE_WON, rounding=ROUND_HALF_UP)


def fee_breakdown(gross_amount: Decimal | int) -> FeeBreakdown:
    gross = Decimal(gross_amount)
    vat = to_won(gross * VAT_RATE / (1 + VAT_RATE))
    card_fee = to_won(gross * CARD_FEE_RATE)
    return FeeBreakdown(
        gross_amount=gross,
        vat_amount=vat,
        card_fee_amount=card_fee,
        net_amount=gross - vat - card_fee,
    )


# A chain's payments repeat a few prices: each breakdown is worked out once.
_breakdown_of = lru_cache(maxsize=4096)(fee_breakdown)

# FeeBreakdown's fields, in rule_disagreement's order: named, in the target's
# models as in the legacy file, after the columns the app's fee migration added.
BREAKDOWN_FIELDS = FEE_COLUMNS


@dataclass(frozen=True)
class RuleOnAmount:
    """One field of the breakdown the fee rule gives a row's own amount: what an old
    payment (`payment_records`, which never had fee columns) gets. A class, not a
    closure, so that a spec holding it goes to worker processes."""

    field: str  # one of BREAKDOWN_FIELDS, which are FeeBreakdown's own names

    def __call__(self, values: dict[str, Any]) -> Decimal:
        return getattr(_breakdown_of(values["amount"]), self.field)


def rule_disagreement(
    gross: Decimal,
    vat: Decimal | None,
    card_fee: Decimal | None,
    net: Decimal | None,
    vat_rate: Decimal | None = None,
    card_fee_rate: Decimal | None = None,
) -> str | None:
    """Why a recorded breakdown is not the rule's for its gross, or None if it is.

    A rate left empty is not held against the row; one recorded must be the rule's.
    """
    if None in (vat, card_fee, net) or gross != vat + card_fee + net:
        return UNBALANCED
    rule = _breakdown_of(Decimal(gross))
    if (vat, card_fee, net) != (rule.vat_amount, rule.card_fee_amount, rule.net_amount):
        return NOT_THE_RULES
    for recorded, wanted in ((vat_rate, rule.vat_rate), (card_fee_rate, rule.card_fee_rate)):
        if recorded is not None and recorded != wanted:
            return NOT_THE_RULES
    return None


UNBALANCED = "gross ≠ VAT + card fee + net"
NOT_THE_RULES = "not the fee rule's breakdown of its gross"
