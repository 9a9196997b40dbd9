"""Account pages. Thin: forms validate, services write, selectors read."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from accounts.forms import ProfileForm, SignUpForm
from accounts.selectors import profile_for
from accounts.services import profile_update, user_create


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("website:home")
    if request.method == "POST":
        form = SignUpForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            user = user_create(
                username=data["username"],
                email=data["email"],
                password=data["password1"],
                is_provider="provider" in data["roles"],
                is_buyer="buyer" in data["roles"],
                display_name=data["display_name"],
                organisation=data["organisation"],
            )
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome to DataMarket — your account is ready.")
            return redirect(_safe_next(request) or "website:home")
    else:
        roles = request.GET.getlist("role")
        preselected = [role for role in roles if role in ("provider", "buyer")]
        form = SignUpForm(initial={"roles": preselected})
    return render(request, "registration/signup.html", {"form": form, "next": _safe_next(request)})


def _safe_next(request: HttpRequest) -> str:
    """The page to return to after signing up (``?next=`` or the form's ``next``), when it
    is on this site; "" otherwise."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and allowed else ""


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    current = profile_for(request.user)
    roles_optional = bool(request.user.is_staff)
    if request.method == "POST":
        form = ProfileForm(request.POST, roles_optional=roles_optional)
        if form.is_valid():
            data = form.cleaned_data
            profile_update(
                user=request.user,
                display_name=data["display_name"],
                organisation=data["organisation"],
                is_provider="provider" in data["roles"],
                is_buyer="buyer" in data["roles"],
            )
            messages.success(request, "Profile saved.")
            return redirect("accounts:profile")
    else:
        initial = {}
        if current is not None:
            initial = {
                "display_name": current.display_name,
                "organisation": current.organisation,
                "roles": current.roles,
            }
        form = ProfileForm(initial=initial, roles_optional=roles_optional)
    return render(request, "registration/profile.html", {"form": form, "profile": current})


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, "Signed in.")
        return response


class LogoutView(auth_views.LogoutView):
    """POST only (Django's default); says goodbye with a flash message."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You have been signed out.")
        return response


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("accounts:profile")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, "Password changed.")
        return response
