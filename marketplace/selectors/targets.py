"""A buyer's target tasks and target samples (that buyer and staff only)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from accounts.selectors import user_has_role
from marketplace.models import TargetSample, TargetTask

User = AbstractBaseUser | AnonymousUser


def target_tasks_of_buyer(*, buyer: AbstractBaseUser) -> QuerySet[TargetTask]:
    return TargetTask.objects.filter(buyer=buyer).order_by("-created_at", "-id")


def target_tasks_visible(*, user: User) -> QuerySet[TargetTask]:
    if user_has_role(user, "staff"):
        return TargetTask.objects.all().order_by("-created_at", "-id")
    if user.is_authenticated:
        return target_tasks_of_buyer(buyer=user)
    return TargetTask.objects.none()


def target_task_get_for_viewer(*, task_id: int, user: User) -> TargetTask | None:
    """The task if ``user`` is its buyer or staff, else None (callers answer 404)."""
    return target_tasks_visible(user=user).filter(pk=task_id).first()


def target_samples(*, task: TargetTask) -> QuerySet[TargetSample]:
    return TargetSample.objects.filter(task=task).order_by("position")
