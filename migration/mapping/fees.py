"""The legacy app's fee rule: how a VAT-inclusive price splits into VAT, card fee and net.

For a gross amount G in whole won, with Decimal and ROUND_HALF_UP to the won:
VAT = G x 0.10 / 1.10, card fee = G x 0.035, net = G - VAT - card fee.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

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
