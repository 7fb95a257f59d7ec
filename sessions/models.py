"""Packages of sessions, the sessions themselves, payments, and the fee audit log.

Money is whole Korean won, VAT-inclusive, held as exact decimals. The fee
breakdown (VAT, card fee, net) follows the legacy app's fee rule.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


def won(**kwargs):
    return models.DecimalField(max_digits=15, decimal_places=0, **kwargs)


def rate(**kwargs):
    # Four places hold the card-fee rate 0.035 exactly; the legacy DECIMAL(5,2) could not.
    return models.DecimalField(max_digits=5, decimal_places=4, **kwargs)


def non_negative(model: str, *fields: str) -> list[models.CheckConstraint]:
    return [
        models.CheckConstraint(
            condition=models.Q(**{f"{field}__gte": 0}) | models.Q(**{f"{field}__isnull": True}),
            name=f"training_{model}_{field}_non_negative",
        )
        for field in fields
    ]


FEE_FIELDS = ("gross_amount", "vat_amount", "card_fee_amount", "net_amount")


class FeeMethod(models.TextChoices):
    INCLUSIVE = "inclusive", "VAT-inclusive"


class SessionPackage(models.Model):
    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="packages")
    trainer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="packages"
    )
    total_amount = won()
    session_price = won()
    total_sessions = models.PositiveIntegerField()
    # Kept as the legacy app left them: not always derivable from the sessions.
    remaining_credits = won(help_text="Won, net-based, as the legacy app kept it.")
    remaining_sessions = models.IntegerField()
    package_name = models.TextField(null=True, blank=True)
    notes = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    is_active = models.BooleanField(default=True)
    gross_amount = won(null=True, blank=True)
    vat_amount = won(null=True, blank=True)
    card_fee_amount = won(null=True, blank=True)
    net_amount = won(null=True, blank=True)
    vat_rate = rate(null=True, blank=True)
    card_fee_rate = rate(null=True, blank=True)
    fee_calculation_method = models.CharField(
        max_length=20, choices=FeeMethod.choices, null=True, blank=True
    )

    class Meta:
        constraints = non_negative(
            "sessionpackage",
            "total_amount",
            "session_price",
            *FEE_FIELDS,
            "vat_rate",
            "card_fee_rate",
        )

    def __str__(self) -> str:
        return self.package_name or f"Package {self.pk}"


class SessionStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Session(models.Model):
    """A training session: legacy `sessions` and the older `training_sessions`, merged."""

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="sessions")
    trainer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="training_sessions"
    )
    package = models.ForeignKey(SessionPackage, on_delete=models.PROTECT, related_name="sessions")
    session_date = models.DateField()
    session_time = models.TimeField(null=True, blank=True)
    session_duration = models.PositiveIntegerField(help_text="Minutes.")
    session_cost = won()
    status = models.CharField(
        max_length=10, choices=SessionStatus.choices, default=SessionStatus.SCHEDULED
    )
    notes = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            *non_negative("session", "session_cost"),
            models.CheckConstraint(
                condition=models.Q(status__in=SessionStatus.values),
                name="training_session_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Session on {self.session_date} ({self.status})"


class PaymentMethod(models.TextChoices):
    CARD = "card", "Card"
    CASH = "cash", "Cash"
    TRANSFER = "transfer", "Bank transfer"
    OTHER = "other", "Other"


class Payment(models.Model):
    """A payment: legacy `payments` and the older `payment_records`, merged."""

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="payments")
    trainer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments"
    )
    package = models.ForeignKey(
        SessionPackage, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    amount = won()
    payment_method = models.CharField(
        max_length=10, choices=PaymentMethod.choices, null=True, blank=True
    )
    payment_method_text = models.TextField(
        null=True, blank=True, help_text="The payment method exactly as the trainer typed it."
    )
    description = models.TextField(null=True, blank=True)
    payment_date = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)
    gross_amount = won(null=True, blank=True)
    vat_amount = won(null=True, blank=True)
    card_fee_amount = won(null=True, blank=True)
    net_amount = won(null=True, blank=True)
    vat_rate = rate(null=True, blank=True)
    card_fee_rate = rate(null=True, blank=True)

    class Meta:
        constraints = [
            *non_negative("payment", "amount", *FEE_FIELDS, "vat_rate", "card_fee_rate"),
            models.CheckConstraint(
                condition=models.Q(payment_method__in=PaymentMethod.values)
                | models.Q(payment_method__isnull=True),
                name="training_payment_method_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Payment of {self.amount} won on {self.payment_date}"


class FeeAuditLog(models.Model):
    """One fee calculation: which package or payment, the breakdown, and how it was computed."""

    package = models.ForeignKey(
        SessionPackage, on_delete=models.PROTECT, null=True, blank=True, related_name="fee_audits"
    )
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="fee_audits"
    )
    calculation_type = models.CharField(max_length=50)
    gross_amount = won()
    vat_amount = won()
    card_fee_amount = won()
    net_amount = won()
    vat_rate = rate()
    card_fee_rate = rate()
    calculation_details = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="fee_audits",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = non_negative("feeauditlog", *FEE_FIELDS, "vat_rate", "card_fee_rate")

    def __str__(self) -> str:
        return f"{self.calculation_type} at {self.created_at}"
