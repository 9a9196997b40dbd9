from django.contrib import admin

from core.models import WorkerHeartbeat


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("queue", "hostname", "seen_at")
    readonly_fields = ("queue", "hostname", "token", "seen_at")
