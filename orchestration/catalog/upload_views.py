"""Models → Upload: the portal form that uploads a model archive (.zip or .tar.gz)."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from orchestration.accounts.access import Perm
from orchestration.catalog import actions as catalog_actions
from orchestration.catalog.upload import IGNORED_DIRS, IGNORED_FILES
from orchestration.errors import ActionError
from orchestration.web.forms import add_action_errors

EXAMPLES_DIR = Path(settings.BASE_DIR) / "examples"


class UploadForm(forms.Form):
    archive = forms.FileField(
        label="Model archive (.zip or .tar.gz)",
        help_text="A .zip or .tar.gz of the model folder, or of a folder that holds it.",
        widget=forms.FileInput(
            attrs={"accept": ".zip,.tar.gz,.tgz,application/zip,application/gzip"}
        ),
    )


@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    if request.method == "GET" and "example" in request.GET:
        return _example_zip(request.GET["example"])
    request.space.require(Perm.MODELS)
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                version = catalog_actions.upload_model(
                    owner=request.space.account,
                    uploaded=form.cleaned_data["archive"],
                    actor=request.user,
                )
            except ActionError as exc:
                add_action_errors(form, exc)
            else:
                messages.success(
                    request,
                    f"Uploaded {version.model.slug} version {version.number}; "
                    "its image is being built.",
                )
                return redirect(version.get_absolute_url())
    else:
        form = UploadForm()
    context = {"section": "models", "form": form, "examples": _example_names()}
    return render(request, "catalog/upload.html", context)


# --------------------------------------------------------------------------- examples


def _example_names() -> list[str]:
    """The demo models shipped in examples/, each offered as a .zip to try the form with."""
    if not EXAMPLES_DIR.is_dir():
        return []
    return sorted(
        entry.name
        for entry in EXAMPLES_DIR.iterdir()
        if entry.is_dir() and not entry.is_symlink() and (entry / "config.yaml").is_file()
    )


def _example_zip(name: str) -> HttpResponse:
    if name not in _example_names():  # also keeps the name a plain folder name
        raise Http404("No such example")
    root = EXAMPLES_DIR / name
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
            for file_name in sorted(files):
                path = Path(folder) / file_name
                if file_name in IGNORED_FILES or path.is_symlink() or not path.is_file():
                    continue
                archive.write(path, f"{name}/{path.relative_to(root).as_posix()}")
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}.zip"'
    return response
