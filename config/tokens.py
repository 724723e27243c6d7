"""API tokens (django-rest-knox): a logged-in user gets one, a client revokes its own.

Only a hash of each token is stored, and it expires REST_KNOX["TOKEN_TTL"] after it was issued.
A token is issued only to a browser session (log in at /login/, throttled, then POST with its CSRF
token): neither a token, which could then renew itself forever, nor a password sent with each
request, which would bypass the log-in throttling, gets a new one.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from knox import views as knox_views
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text='Send as "Authorization: Token <token>"; shown only this once.')
    expiry = serializers.DateTimeField(help_text="After this the token is refused (401).")


class TokenLoginApi(knox_views.LoginView):
    authentication_classes = [SessionAuthentication]

    @extend_schema(
        request=None,
        responses=TokenSerializer,
        summary="Issue an API token for the logged-in user",
        description="Needs a browser session (log in at /login/ first). The token expires; revoke it earlier "
        "with /api/auth/logout/.",
    )
    def post(self, request: Request, format: Any = None) -> Response:
        return super().post(request, format)


class TokenLogoutApi(knox_views.LogoutView):
    @extend_schema(request=None, responses={204: None}, summary="Revoke the token this request is sent with")
    def post(self, request: Request, format: Any = None) -> Response:
        return super().post(request, format)


class TokenLogoutAllApi(knox_views.LogoutAllView):
    @extend_schema(request=None, responses={204: None}, summary="Revoke every API token of the token's user")
    def post(self, request: Request, format: Any = None) -> Response:
        return super().post(request, format)
