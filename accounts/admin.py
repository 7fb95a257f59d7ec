from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = (
        "username",
        "email",
        "name",
        "is_staff",
        "failed_login_attempts",
        "locked_until",
    )
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Legacy", {"fields": ("name", "failed_login_attempts", "locked_until")}),
    )
