"""REST endpoints for accounts: obtain an API token, read the caller's own profile."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import profile_for, user_roles
from accounts.services import auth_token_get_or_create

# Serializer names are unique project-wide: drf-spectacular names schema components after them.


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()
    display_name = serializers.CharField()
    organisation = serializers.CharField()
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=["provider", "buyer", "staff"])
    )
    is_provider = serializers.BooleanField()
    is_buyer = serializers.BooleanField()
    is_staff = serializers.BooleanField()
    date_joined = serializers.DateTimeField()


class TokenObtainApi(APIView):
    """Exchange a username and password for the account's API token.

    Send it afterwards as ``Authorization: Token <token>``.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, 400: None, 429: None},
        auth=[],
        operation_id="accounts_token_create",
    )
    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request=request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if getattr(request, "axes_locked_out", False):
            # django-axes refused the attempt (too many failures for this username or from
            # this address): no token, even for the right password, until the lock expires.
            raise Throttled(
                detail="Too many failed sign-in attempts for this account or from this "
                "address; try again later."
            )
        if user is None:
            raise serializers.ValidationError(
                {"non_field_errors": ["Unable to log in with the provided credentials."]},
                code="authorization",
            )
        token = auth_token_get_or_create(user=user)
        return Response(TokenSerializer({"token": token.key}).data)


class MeApi(APIView):
    """The authenticated caller: account, profile and roles."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: MeSerializer}, operation_id="accounts_me_retrieve")
    def get(self, request: Request) -> Response:
        user = request.user
        profile = profile_for(user)
        roles = user_roles(user, profile=profile)
        data = {
            "id": user.pk,
            "username": user.get_username(),
            "email": user.email,
            "display_name": (profile.display_name if profile else "") or user.get_username(),
            "organisation": profile.organisation if profile else "",
            "roles": roles,
            "is_provider": "provider" in roles,
            "is_buyer": "buyer" in roles,
            "is_staff": bool(user.is_staff),
            "date_joined": user.date_joined,
        }
        return Response(MeSerializer(data).data)
