from django.conf import settings
from django.db import models
from django.utils import timezone


def score():
    return models.PositiveSmallIntegerField(null=True, blank=True)


def measure(help_text: str):
    # The legacy columns are REAL: a float keeps every value exactly as stored.
    return models.FloatField(null=True, blank=True, help_text=help_text)


def heart_rate(help_text: str):
    return models.PositiveSmallIntegerField(null=True, blank=True, help_text=help_text)


def notes():
    return models.TextField(null=True, blank=True)


class Assessment(models.Model):
    """A fitness assessment: seven tests, each with its measures and notes."""

    client = models.ForeignKey(
        "clients.Client", on_delete=models.PROTECT, related_name="assessments"
    )
    trainer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assessments"
    )
    date = models.DateField()

    overhead_squat_score = score()
    overhead_squat_notes = notes()
    overhead_squat_compensations = notes()

    push_up_score = score()
    push_up_reps = models.PositiveIntegerField(null=True, blank=True)
    push_up_notes = notes()
    push_up_compensations = notes()

    single_leg_balance_left_eyes_open = measure("Seconds.")
    single_leg_balance_right_eyes_open = measure("Seconds.")
    single_leg_balance_left_eyes_closed = measure("Seconds.")
    single_leg_balance_right_eyes_closed = measure("Seconds.")
    single_leg_balance_notes = notes()

    toe_touch_score = score()
    toe_touch_distance = measure("Centimetres.")
    toe_touch_notes = notes()
    toe_touch_compensations = notes()

    shoulder_mobility_left = measure("Centimetres.")
    shoulder_mobility_right = measure("Centimetres.")
    shoulder_mobility_notes = notes()
    shoulder_mobility_compensations = notes()

    farmer_carry_weight = measure("Kilograms.")
    farmer_carry_distance = measure("Metres.")
    farmer_carry_notes = notes()
    farmer_carry_compensations = notes()
    # Recorded by the app's first generation only.
    farmer_carry_time = measure("Seconds.")

    harvard_step_test_heart_rate = models.PositiveSmallIntegerField(null=True, blank=True)
    harvard_step_test_duration = measure("Seconds.")
    harvard_step_test_notes = notes()
    # The app's first generation took three recovery heart rates and computed the
    # physical fitness index from them, 100 x 180 s / (2 x their sum), and a score.
    harvard_step_test_heart_rate_1 = heart_rate("Beats per minute, 1 minute after the test.")
    harvard_step_test_heart_rate_2 = heart_rate("Beats per minute, 2 minutes after the test.")
    harvard_step_test_heart_rate_3 = heart_rate("Beats per minute, 3 minutes after the test.")
    harvard_step_test_fitness_index = measure("Physical fitness index.")
    harvard_step_test_score = score()

    overall_score = measure("Overall score.")
    strength_score = measure("Strength score.")
    mobility_score = measure("Mobility score.")
    balance_score = measure("Balance score.")
    cardio_score = measure("Cardio score.")

    # Added to the legacy schema later (ALTER TABLE); NULL in older files.
    shoulder_mobility_score = score()
    # The first generation scored the carry as the mean of a distance and a time
    # score, in halves (2.5); later files hold whole numbers.
    farmer_carry_score = measure("Score, in halves in the app's first generation.")

    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-date"]

    def __str__(self) -> str:
        return f"Assessment of {self.client} on {self.date}"
