from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "sessions"
    # django.contrib.sessions owns the label "sessions".
    label = "training"
    verbose_name = "Training sessions and payments"
