from django.contrib import admin

from .models import Client


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ("name", "trainer", "age", "gender", "created_at")
    list_filter = ("gender", "trainer")
    search_fields = ("name", "email", "phone")
