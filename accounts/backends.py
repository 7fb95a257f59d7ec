"""Log-in with the legacy app's lock-out policy carried over.

A trainer locked in the legacy app stays locked until `locked_until` passes,
and the policy goes on: `LOGIN_FAILURE_LIMIT` failed logins in a row lock the
account for `LOGIN_LOCKOUT_DURATION`. Only a successful login clears the
count: once a lock has run out, the next failure locks the account again, so a
guesser gets one try per lock period, never a fresh five.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import F
from django.utils import timezone


class LockoutModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        user_model = get_user_model()
        if username is None:
            username = kwargs.get(user_model.USERNAME_FIELD)
        if username is None or password is None:
            return None
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            # Hash anyway, so that timing does not tell which usernames exist.
            user_model().set_password(password)
            return None
        if user.is_locked():
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            if user.failed_login_attempts:
                user_model._default_manager.filter(pk=user.pk).update(failed_login_attempts=0)
                user.failed_login_attempts = 0
            return user
        self._record_failure(user)
        return None

    @staticmethod
    def _record_failure(user) -> None:
        manager = type(user)._default_manager
        # Counted in the database, so that concurrent attempts cannot undercount.
        manager.filter(pk=user.pk).update(failed_login_attempts=F("failed_login_attempts") + 1)
        user.refresh_from_db(fields=["failed_login_attempts"])
        if user.failed_login_attempts >= settings.LOGIN_FAILURE_LIMIT:
            locked_until = timezone.now() + settings.LOGIN_LOCKOUT_DURATION
            manager.filter(pk=user.pk).update(locked_until=locked_until)
            user.locked_until = locked_until
