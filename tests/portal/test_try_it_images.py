"""Try it with images: what the form refuses, and how a result shows its concepts."""

from __future__ import annotations

import base64
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.urls import reverse

from orchestration.predict.portal import _image_src, shown_concepts

HTMX = {"HTTP_HX_REQUEST": "true"}
PNG = Path(__file__).resolve().parents[1] / "fixtures" / "images" / "digit-3-dark-on-light.png"


def test_probabilities_are_bars_other_values_plain_numbers():
    shown = shown_concepts(
        [
            {"id": "cats", "value": 3},
            {"id": "p", "name": "likely", "value": 0.25},
            {"id": "neg", "value": -2.5},
            {"id": "one", "value": 1},
            {"id": "odd", "value": "high"},
            "not a concept",
        ]
    )
    assert [c["label"] for c in shown] == ["cats", "one", "likely", "odd", "neg"]
    assert [c.get("percent") for c in shown] == [None, 100, 25.0, 0, None]
    html = render_to_string(
        "catalog/_predict_result.html", {"concepts": shown, "deployment_slug": "dep"}
    )
    assert "300.0%" not in html and "300%" not in html
    assert '<span class="concept-value">3</span>' in html
    assert '<span class="concept-value">-2.5</span>' in html
    assert 'value="25.0"' in html and "25.0%" in html
    assert html.count("<meter") == 3
    assert "style=" not in html
    assert shown_concepts(None) == [] and shown_concepts({"a": 1}) == []


def test_the_sent_image_is_shown_as_a_data_url():
    encoded = base64.b64encode(PNG.read_bytes()).decode()
    assert _image_src({"image": {"base64": encoded}}) == f"data:image/png;base64,{encoded}"
    assert _image_src({"text": {"raw": "hi"}}) is None


def test_the_form_refuses_a_file_that_is_no_image_or_too_large(owner_client, world, settings):
    url = reverse("models:predict", args=["sentiment"])
    text = SimpleUploadedFile("notes.txt", b"hello there", content_type="text/plain")
    body = owner_client.post(url, {"image": text}, **HTMX).content.decode()
    assert "The file is not an image (PNG, JPEG, GIF, WebP or BMP)." in body
    settings.PREDICT_IMAGE_MAX_BYTES = 1024
    big = SimpleUploadedFile("big.png", PNG.read_bytes() + b"\0" * 2048)
    body = owner_client.post(url, {"image": big}, **HTMX).content.decode()
    assert "The image is larger than 1024 bytes (PREDICT_IMAGE_MAX_BYTES)." in body


def test_image_models_offer_the_drop_zone_and_no_text_box(owner_client, owner, make_model):
    make_model(owner, "digits", model_type_id="visual-classifier")
    body = owner_client.get(reverse("models:detail", args=["digits"])).content.decode()
    assert 'data-dropzone-for="predict-image"' in body
    assert 'data-preview-of="predict-image"' in body
    assert 'id="predict-text"' not in body
    assert "style=" not in body
