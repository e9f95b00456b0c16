"""Cluster form, plus the helpers every portal form shares (ids, model constraint errors)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models

from orchestration.clusters.models import SHARED_ID, Cluster

# Ids that would shadow a portal URL (/compute/new/) or the built-in shared cluster.
RESERVED_CLUSTER_IDS = frozenset({SHARED_ID, "new"})


def add_model_errors(
    form: forms.BaseForm,
    exc: ValidationError,
    model: type[models.Model],
    constraint_fields: dict[str, str],
) -> None:
    """Show a model's full_clean() errors beside the form fields they concern.

    Constraint violations come back as non-field errors carrying the constraint's
    message; ``constraint_fields`` maps a constraint name to the field that shows it.
    """
    field_for_message = {
        str(c.get_violation_error_message()): constraint_fields[c.name]
        for c in model._meta.constraints
        if c.name in constraint_fields
    }
    for name, errors in exc.message_dict.items():
        for message in errors:
            target = name if name in form.fields else None
            if name == NON_FIELD_ERRORS:
                target = field_for_message.get(message)
            if target and target in form.errors:
                continue  # the form's own check already said this beside the field
            form.add_error(target, message)


class ClusterForm(forms.ModelForm):
    class Meta:
        model = Cluster
        fields = ["slug", "description", "cloud_provider", "region"]
        help_texts = {
            "slug": "Lowercase letters, digits, '-' and '_'; used in URLs and the API.",
            "region": "For example us-east-1, or the site's name for on-premises compute.",
        }
        widgets = {"description": forms.TextInput()}

    def __init__(self, *args, owner, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner
        if self.instance.pk:
            # The id is in every URL and API call that names the cluster: fixed once made.
            self.fields["slug"].disabled = True
            self.fields["slug"].help_text = "The ID cannot change once the cluster exists."

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if self.instance.pk:
            return self.instance.slug
        if slug in RESERVED_CLUSTER_IDS:
            raise ValidationError(f"“{slug}” is reserved; choose another ID.")
        # The unique (owner, slug) constraint involves owner, which is not a form field,
        # so ModelForm validation skips it: check here to say it beside the field.
        if Cluster.objects.filter(owner=self.owner, slug=slug).exists():
            raise ValidationError("You already have a cluster with this ID.")
        return slug
