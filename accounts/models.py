from django.conf import settings
from django.db import models


class Profile(models.Model):
    """A user's marketplace roles. One person may be both a provider and a buyer."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    display_name = models.CharField(max_length=120, blank=True)
    organisation = models.CharField(max_length=120, blank=True)
    is_provider = models.BooleanField(default=False)
    is_buyer = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.display_name or self.user.get_username()

    @property
    def roles(self) -> list[str]:
        held = (("provider", self.is_provider), ("buyer", self.is_buyer))
        return [name for name, has_role in held if has_role]
