"""Forms validate input only; views hand the cleaned data to ``accounts.services``."""

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import UsernameField

from accounts.selectors import username_taken

ROLE_CHOICES = [("provider", "Provider (sell data)"), ("buyer", "Buyer (buy data)")]


class RolesField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        kwargs.setdefault("choices", ROLE_CHOICES)
        kwargs.setdefault("label", "I want to")
        super().__init__(**kwargs)


class SignUpForm(forms.Form):
    username = UsernameField(
        max_length=150,
        help_text="Letters, digits and @/./+/-/_ only.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    email = forms.EmailField(
        help_text="Used for password resets; never shown to other users.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    display_name = forms.CharField(
        max_length=120,
        required=False,
        help_text="Shown to buyers and providers. Defaults to your username.",
    )
    organisation = forms.CharField(max_length=120, required=False)
    roles = RolesField(
        error_messages={"required": "Choose at least one role: provider, buyer or both."},
        help_text="You can hold both roles and change them later on your profile.",
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters; not entirely numeric or too common.",
    )
    password2 = forms.CharField(
        label="Confirm password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        for validator in get_user_model()._meta.get_field("username").validators:
            validator(username)
        if username_taken(username=username):
            raise forms.ValidationError("That username is taken.", code="username_taken")
        return username

    def clean_email(self) -> str:
        # Whether an address is already registered is never said: sign-up would otherwise
        # tell anyone which addresses have accounts. An address may serve several accounts
        # (password resets then reach each of them, at that address only).
        return self.cleaned_data["email"].strip().lower()

    def clean(self) -> dict:
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords do not match.")
        elif password1:
            user = get_user_model()(
                username=cleaned.get("username", ""), email=cleaned.get("email", "")
            )
            try:
                password_validation.validate_password(password1, user)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class ProfileForm(forms.Form):
    display_name = forms.CharField(max_length=120, required=False)
    organisation = forms.CharField(max_length=120, required=False)
    roles = RolesField(required=False, label="My roles")

    def __init__(self, *args, roles_optional: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.roles_optional = roles_optional

    def clean_roles(self) -> list[str]:
        roles = self.cleaned_data["roles"]
        if not roles and not self.roles_optional:
            raise forms.ValidationError(
                "Keep at least one role: provider, buyer or both.", code="required"
            )
        return roles
