"""A test URLconf with only core and accounts: no marketplace or payments pages exist."""

from django.urls import include, path

handler403 = "website.views.permission_denied"
handler404 = "website.views.page_not_found"
handler500 = "website.views.server_error"

urlpatterns = [
    path("", include("website.urls")),
    path("accounts/", include("accounts.urls")),
    path("api/accounts/", include("accounts.api_urls")),
]
