"""Iris species classifier.

Trains a logistic regression on scikit-learn's bundled iris data set when the replica
starts (a fraction of a second, and no weights file to ship or download). Input: the four
measurements in centimetres, "sepal length, sepal width, petal length, petal width", as
text such as "5.1,3.5,1.4,0.2".
"""

import re

SPLIT = re.compile(r"[,\s;]+")


class IrisModel:
    def load_model(self):
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        data = load_iris()
        self.classes = [str(name) for name in data.target_names]
        self.classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        self.classifier.fit(data.data, data.target)
        self.accuracy = float(self.classifier.score(data.data, data.target))

    def parse(self, data):
        raw = (data.get("text") or {}).get("raw")
        if not isinstance(raw, str):
            raise ValueError('each input needs text like {"text": {"raw": "5.1,3.5,1.4,0.2"}}')
        parts = [p for p in SPLIT.split(raw.strip()) if p]
        if len(parts) != 4:
            raise ValueError(f"expected 4 measurements, got {len(parts)} in {raw!r}")
        return [float(p) for p in parts]

    def predict(self, inputs):
        rows = [self.parse(data) for data in inputs]
        outputs = []
        for probabilities in self.classifier.predict_proba(rows):
            concepts = [
                {"id": name, "name": name, "value": round(float(p), 6)}
                for name, p in zip(self.classes, probabilities)
            ]
            concepts.sort(key=lambda c: c["value"], reverse=True)
            outputs.append({"concepts": concepts})
        return outputs
