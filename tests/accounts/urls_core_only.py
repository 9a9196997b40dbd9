"""A test URLconf with only core and accounts: no marketplace or payments pages exist."""

from django.urls import include, path

handler403 = "core.views.permission_denied"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"

urlpatterns = [
    path("", include("core.urls")),
    path("accounts/", include("accounts.urls")),
    path("api/accounts/", include("accounts.api_urls")),
]
