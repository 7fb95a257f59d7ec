"""The legacy app's fee rule, without a database."""

from decimal import Decimal

import pytest

from migration.mapping.fees import fee_breakdown


class TestFeeRule:
    @pytest.mark.parametrize(
        ("gross", "vat", "card_fee", "net"),
        [
            (1_980_000, 180_000, 69_300, 1_730_700),
            (300_000, 27_273, 10_500, 262_227),
            (2_280_000, 207_273, 79_800, 1_992_927),
        ],
    )
    def test_the_readme_examples(self, gross, vat, card_fee, net):
        breakdown = fee_breakdown(gross)
        assert (breakdown.vat_amount, breakdown.card_fee_amount, breakdown.net_amount) == (
            vat,
            card_fee,
            net,
        )
        assert breakdown.is_consistent
        assert breakdown.card_fee_rate == Decimal("0.035")
        assert breakdown.method == "inclusive"

    def test_half_won_rounds_up(self):
        # 10 x 0.035 = 0.35 -> 0; 100 x 0.035 = 3.5 -> 4 (ROUND_HALF_UP, not banker's rounding)
        assert fee_breakdown(100).card_fee_amount == 4
        assert fee_breakdown(110).vat_amount == 10
