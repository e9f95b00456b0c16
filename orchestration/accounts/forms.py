"""Forms of the account pages."""

from __future__ import annotations

from django import forms

from orchestration.accounts.models import Role


class TokenForm(forms.Form):
    name = forms.CharField(
        label="Token name",
        max_length=100,
        help_text="What the token is for, such as a laptop or a CI pipeline.",
        widget=forms.TextInput(attrs={"placeholder": "ci-pipeline", "autocomplete": "off"}),
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the token a name.")
        if "\x00" in name:
            raise forms.ValidationError("The name contains a character that is not allowed.")
        return name


class OrganizationForm(forms.Form):
    slug = forms.CharField(
        label="Organization ID",
        max_length=64,
        help_text="Lowercase letters, digits, '-' or '_'; the user_id clients name it by.",
        widget=forms.TextInput(attrs={"placeholder": "acme", "autocomplete": "off"}),
    )
    name = forms.CharField(label="Name", max_length=100, required=False)


class MemberForm(forms.Form):
    who = forms.CharField(
        label="Username or e-mail address",
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


class OrganizationSettingsForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100)
    viewers_can_predict = forms.BooleanField(label="Viewers may send predictions", required=False)


class TokenScopeForm(TokenForm):
    """A token, optionally scoped to one of the user's organizations."""

    organization = forms.ChoiceField(
        label="Acts in",
        required=False,
        help_text="A key scoped to an organization reaches only that organization's "
        "objects, with your role there.",
    )

    def __init__(self, *args, organizations=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.organizations = {org.slug: org for org in organizations}
        self.fields["organization"].choices = [("", "Your personal space")] + [
            (slug, f"Organization {slug}") for slug in self.organizations
        ]

    def clean_organization(self):
        return self.organizations.get(self.cleaned_data.get("organization") or "")
