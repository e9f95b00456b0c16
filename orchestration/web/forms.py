"""What every portal form shares: an action's refusal shown beside the fields it concerns."""

from __future__ import annotations

from django import forms

from orchestration.errors import ActionError


def add_action_errors(
    form: forms.BaseForm, exc: ActionError, constraint_fields: dict[str, str] | None = None
) -> None:
    """Show an action's errors on the form.

    Each error names a model field (shown beside the form field of that name) or a
    constraint (``constraint_fields`` says which form field shows it); any other error is
    the form's own. A field that already says something keeps its one message.
    """
    constraint_fields = constraint_fields or {}
    for item in exc.errors:
        name = item["field"]
        target = name if name in form.fields else constraint_fields.get(name)
        if target and target in form.errors:
            continue  # the form's own check already said this beside the field
        form.add_error(target, item["message"])
