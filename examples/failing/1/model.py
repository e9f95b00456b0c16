"""A model whose every prediction fails, for testing error handling end to end."""


class FailingModel:
    def load_model(self):
        self.loaded = True

    def predict(self, inputs):
        raise ValueError("this model always fails")
