"""Streaming text generator: an order-2 word Markov chain over a bundled public-domain
text (alice.txt, the opening of Lewis Carroll's Alice's Adventures in Wonderland, 1865).
No weights and no dependencies.

generate() yields a few words per chunk, paced like a language model's tokens so that a
client sees the text grow; predict() returns the whole text at once. Both continue the
input's last two words when the chain knows them, and are deterministic given the input.
"""

import hashlib
import random
import re
import time
from itertools import islice

CORPUS = "alice.txt"
MAX_WORDS = 60
# Past this many words, the first sentence end closes the text.
MIN_WORDS = 40
WORDS_PER_CHUNK = 3
# The pause before each chunk after the first; predict() does not wait.
CHUNK_SECONDS = 0.05
SENTENCE_ENDS = (".", "!", "?", '."', '!"', '?"', ".)", "!)", "?)")


def _key(word):
    """What the chain matches words by: case and quotes aside, so '"Oh' is 'oh', but
    'her.' (a sentence ends) stays apart from 'her' (it goes on)."""
    return word.lower().strip("\"()")


def _bare(word):
    """Letters only, for matching a prompt's last word loosely: 'Rabbit!' is 'rabbit'."""
    return re.sub(r"[^\w']", "", word.lower())


def _text_of(data):
    text = data.get("text") if isinstance(data, dict) else None
    raw = text.get("raw") if isinstance(text, dict) else None
    return raw if isinstance(raw, str) else ""


class MarkovModel:
    def load_model(self):
        with open(CORPUS, encoding="utf-8") as fh:
            words = fh.read().split()
        # (key, key) -> the words that follow that pair in the text, repeats kept: a
        # uniform choice from the list is a choice weighted by frequency.
        self.follow = {}
        for a, b, c in zip(words, words[1:], words[2:], strict=False):
            self.follow.setdefault((_key(a), _key(b)), []).append(c)
        # Pairs that open a sentence: where a text starts when the input gives no seed.
        self.openings = [(words[0], words[1])] + [
            (a, b)
            for before, a, b in zip(words, words[1:], words[2:], strict=False)
            if before.endswith(SENTENCE_ENDS)
        ]
        # A one-word seed: the pairs that end with that word, whatever its punctuation.
        self.ending_with = {}
        for pair in self.follow:
            self.ending_with.setdefault(_bare(pair[1]), []).append(pair)

    def _words(self, prompt):
        """The words continuing `prompt`, one at a time."""
        rng = random.Random(hashlib.sha256(prompt.encode("utf-8")).digest())
        keys = [k for k in (_key(w) for w in prompt.split()) if k]
        count = 0
        if len(keys) >= 2 and (keys[-2], keys[-1]) in self.follow:
            state = (keys[-2], keys[-1])
        elif keys and _bare(keys[-1]) in self.ending_with:
            state = rng.choice(self.ending_with[_bare(keys[-1])])
        else:
            first, second = rng.choice(self.openings)
            yield first
            yield second
            count = 2
            state = (_key(first), _key(second))
        while count < MAX_WORDS:
            options = self.follow.get(state)
            if not options:  # the last words of the text lead nowhere
                return
            word = rng.choice(options)
            yield word
            count += 1
            if count >= MIN_WORDS and word.endswith(SENTENCE_ENDS):
                return
            state = (state[1], _key(word))

    def _chunks(self, inputs):
        """Lists of one text data object per input, WORDS_PER_CHUNK words each; an input
        whose text has ended gets empty text while the others go on."""
        streams = [self._words(_text_of(data)) for data in inputs]
        started = [False] * len(inputs)
        while True:
            parts = [list(islice(stream, WORDS_PER_CHUNK)) for stream in streams]
            if not any(parts):
                return
            chunk = []
            for index, words in enumerate(parts):
                text = " ".join(words)
                if words and started[index]:
                    text = " " + text
                started[index] = started[index] or bool(words)
                chunk.append({"text": {"raw": text}})
            yield chunk

    def generate(self, inputs):
        for index, chunk in enumerate(self._chunks(inputs)):
            if index:
                time.sleep(CHUNK_SECONDS)
            yield chunk

    def predict(self, inputs):
        texts = [""] * len(inputs)
        for chunk in self._chunks(inputs):
            for index, data in enumerate(chunk):
                texts[index] += data["text"]["raw"]
        return [{"text": {"raw": text}} for text in texts]
