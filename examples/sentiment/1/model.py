"""Lexicon sentiment classifier: scores English text as positive or negative.

No dependencies. Word weights live in lexicon.txt next to this file; negations ("not
good", "never liked it") flip the words that follow them, intensifiers ("very", "really")
strengthen them, and a clause after "but" counts for more than the one before it.
"""

import math
import os
import re

NEGATORS = {
    "not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "nowhere",
    "cannot", "without", "hardly", "barely", "scarcely", "lack", "lacks",
    "isn't", "aren't", "wasn't", "weren't", "don't", "doesn't", "didn't", "won't",
    "wouldn't", "can't", "couldn't", "shouldn't", "haven't", "hasn't", "hadn't", "ain't",
    "isnt", "arent", "wasnt", "dont", "doesnt", "didnt", "wont", "cant", "couldnt",
}
INTENSIFIERS = {
    "very": 1.5, "really": 1.5, "so": 1.3, "extremely": 1.8, "incredibly": 1.8,
    "absolutely": 1.7, "totally": 1.5, "truly": 1.4, "super": 1.5, "highly": 1.5,
    "most": 1.3, "quite": 1.2, "too": 1.2, "utterly": 1.8, "completely": 1.6,
    "somewhat": 0.6, "slightly": 0.5, "kinda": 0.7, "fairly": 0.8, "bit": 0.7,
}
# How many words a negation reaches; punctuation ends it earlier.
NEGATION_SCOPE = 3
# A negated word is weaker than its opposite: "not good" is not as bad as "bad".
NEGATION_FACTOR = -0.75
# Steepness of the score-to-probability curve.
TEMPERATURE = 0.9

TOKEN = re.compile(r"[a-z]+(?:['-][a-z]+)*|[.,;:!?]")


class SentimentModel:
    def load_model(self):
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lexicon.txt")
        self.lexicon = {}
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                word, weight = line.rsplit(None, 1)
                self.lexicon[word.lower()] = float(weight)
        if not self.lexicon:
            raise ValueError(f"empty lexicon at {path}")

    def score(self, text):
        tokens = TOKEN.findall(text.lower().replace("\u2019", "'"))
        total = 0.0
        negate_left = 0
        boost = 1.0
        clause_weight = 1.0
        for token in tokens:
            if token in ".;:!?":
                negate_left, boost = 0, 1.0
                if token == "!":
                    total *= 1.1
                continue
            if token == ",":
                negate_left = 0
                continue
            if token == "but":
                # "ok but slow": what follows "but" is what the writer means.
                total *= 0.5
                clause_weight = 1.5
                negate_left, boost = 0, 1.0
                continue
            if token in NEGATORS:
                negate_left = NEGATION_SCOPE
                continue
            if token in INTENSIFIERS:
                boost *= INTENSIFIERS[token]
                continue
            weight = self.lexicon.get(token)
            if weight is None and token.endswith("ly"):
                weight = self.lexicon.get(token[:-2])
            if weight is not None:
                value = weight * boost * clause_weight
                if negate_left > 0:
                    value *= NEGATION_FACTOR
                total += value
                boost = 1.0
            if negate_left > 0:
                negate_left -= 1
        return total

    def predict(self, inputs):
        outputs = []
        for data in inputs:
            text = (data.get("text") or {}).get("raw")
            if not isinstance(text, str):
                raise ValueError('each input needs text: {"text": {"raw": "..."}}')
            score = self.score(text)
            positive = 1.0 / (1.0 + math.exp(-TEMPERATURE * score))
            positive = round(positive, 6)
            concepts = [
                {"id": "positive", "name": "positive", "value": positive},
                {"id": "negative", "name": "negative", "value": round(1.0 - positive, 6)},
            ]
            concepts.sort(key=lambda c: c["value"], reverse=True)
            outputs.append({"concepts": concepts})
        return outputs
