from django.contrib import admin

from .models import FeeAuditLog, Payment, Session, SessionPackage


@admin.register(SessionPackage)
class SessionPackageAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "client",
        "trainer",
        "total_amount",
        "remaining_sessions",
        "is_active",
    )
    list_filter = ("is_active", "trainer")


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ("session_date", "session_time", "client", "trainer", "status", "session_cost")
    list_filter = ("status", "trainer")
    date_hierarchy = "session_date"


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("payment_date", "client", "amount", "payment_method", "payment_method_text")
    list_filter = ("payment_method",)
    date_hierarchy = "payment_date"


@admin.register(FeeAuditLog)
class FeeAuditLogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "calculation_type", "package", "payment", "gross_amount")
