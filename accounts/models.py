from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class User(AbstractUser):
    """A trainer (or staff member) who logs in.

    Legacy `trainers` rows land here: `name` is kept verbatim beside the
    first/last name split, and the lock-out state carries over.
    """

    name = models.TextField(
        blank=True,
        help_text="The full name as the legacy app stored it; first and last name derive from it.",
    )
    failed_login_attempts = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Password resets go by e-mail, so two accounts must never share one.
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="accounts_user_email_unique_ci",
            ),
        ]

    def is_locked(self, now=None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or timezone.now())
