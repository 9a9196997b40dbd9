from django.urls import path

from accounts import api

app_name = "accounts-api"

urlpatterns = [
    path("token/", api.TokenObtainApi.as_view(), name="token"),
    path("me/", api.MeApi.as_view(), name="me"),
]
