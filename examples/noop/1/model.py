"""Echo model: returns each input's text unchanged. Measures serving overhead alone."""


class NoopModel:
    def predict(self, inputs):
        return [{"text": {"raw": (data.get("text") or {}).get("raw", "")}} for data in inputs]
