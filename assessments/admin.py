from django.contrib import admin

from .models import Assessment


@admin.register(Assessment)
class AssessmentAdmin(admin.ModelAdmin):
    list_display = ("client", "trainer", "date", "overall_score")
    list_filter = ("trainer",)
    date_hierarchy = "date"
