"""Handwritten digit classifier for images.

Trains a support vector machine on scikit-learn's bundled digits data set (1,797 8x8
images of the digits 0-9) when the replica starts, in well under a second: nothing to
download and no weights file to ship. Input: Clarifai image data objects,
{"image": {"base64": "..."}} (PNG, JPEG, GIF, WebP or BMP, any size), one digit per
image, dark on light or light on dark. Output: the ten digits as concepts, most likely
first.

The data set's images were made by drawing each digit into a 32x32 bitmap that it fills
edge to edge, then counting the set pixels of each 4x4 block (0-16). An image is
brought to that form: gray, the digit light on dark, cropped to the digit, centred in a
square, scaled to 32x32, thresholded and counted in blocks.
"""

import base64
import io

import numpy as np
from PIL import Image, ImageOps

SIDE = 32  # the bitmaps the data set was counted from
BLOCK = 4  # 32 / 8
# Pixels darker than this share of the digit's brightest are background (the
# data set's bitmaps were binary, a scanned stroke is not).
INK = 0.35


class DigitsModel:
    def load_model(self):
        from sklearn.datasets import load_digits
        from sklearn.svm import SVC

        data = load_digits()
        self.classifier = SVC(gamma=0.001, probability=True, random_state=0)
        self.classifier.fit(data.data, data.target)
        self.classes = [str(int(c)) for c in self.classifier.classes_]

    def predict(self, inputs):
        rows = np.stack([features(decode(data)) for data in inputs])
        outputs = []
        for probabilities in self.classifier.predict_proba(rows):
            concepts = [
                {"id": name, "name": name, "value": round(float(p), 6)}
                for name, p in zip(self.classes, probabilities)
            ]
            concepts.sort(key=lambda c: c["value"], reverse=True)
            outputs.append({"concepts": concepts})
        return outputs


def decode(data):
    image = data.get("image") if isinstance(data, dict) else None
    encoded = image.get("base64") if isinstance(image, dict) else None
    if not isinstance(encoded, str) or not encoded:
        raise ValueError('each input needs an image like {"image": {"base64": "..."}}')
    try:
        picture = Image.open(io.BytesIO(base64.b64decode(encoded)))
        picture.load()
    except Exception as exc:  # Pillow raises many kinds for a file it cannot read
        raise ValueError(f"cannot read the image: {exc}") from None
    picture = ImageOps.exif_transpose(picture)
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        # Transparent pixels are the page: lay the image on white.
        picture = picture.convert("RGBA")
        page = Image.new("RGBA", picture.size, "white")
        picture = Image.alpha_composite(page, picture)
    return np.asarray(picture.convert("L"), dtype=np.float64) / 255.0


def features(gray):
    """The 64 block counts (0-16) the classifier was trained on."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark ink on a light page: make the ink the light part
        gray, background = 1.0 - gray, 1.0 - background
    ink = np.clip(gray - background, 0.0, None)
    peak = float(ink.max())
    if peak <= 0.05:
        raise ValueError("the image is blank: no digit stands out from its background")
    mask = ink >= INK * peak
    rows, cols = np.nonzero(mask)
    ink = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    # Centre the digit in a square; its longer side fills it, as in the data set.
    height, width = ink.shape
    side = max(height, width)
    square = np.zeros((side, side))
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = ink
    scaled = Image.fromarray((square / peak * 255).astype(np.uint8)).resize(
        (SIDE, SIDE), Image.Resampling.BILINEAR
    )
    bitmap = np.asarray(scaled, dtype=np.float64) / 255.0 >= INK
    return bitmap.reshape(8, BLOCK, 8, BLOCK).sum(axis=(1, 3)).ravel().astype(np.float64)
