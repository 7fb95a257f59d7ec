from django.conf import settings
from django.db import models
from django.utils import timezone


class Gender(models.TextChoices):
    MALE = "male", "Male"
    FEMALE = "female", "Female"


class Client(models.Model):
    trainer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="clients"
    )
    name = models.TextField()
    age = models.PositiveSmallIntegerField()
    gender = models.CharField(max_length=6, choices=Gender.choices)
    height = models.FloatField(help_text="Centimetres.")
    weight = models.FloatField(help_text="Kilograms.")
    email = models.EmailField(null=True, blank=True)
    phone = models.CharField(max_length=40, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(gender__in=Gender.values), name="clients_client_gender_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(age__lte=150), name="clients_client_age_range"
            ),
            models.CheckConstraint(
                condition=models.Q(height__gt=0, weight__gt=0),
                name="clients_client_body_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name
