"""The "temporal order" sequence classification task (Hochreiter & Schmidhuber's
experiment 6a), as used by the sequence classification lab.

A sequence starts with B, ends with E, is filled with distractors a, b, c, d, and holds
two relevant symbols (X or Y) at positions t1 and t2. Its class is the ordered pair of
relevant symbols: XX -> Q, XY -> R, YX -> S, YY -> U. Batches are one-hot encoded,
pre-padded with zero rows to a fixed length, and freshly drawn at every indexing, so one
"epoch" of 31 batches is new data each time.

Class and method names follow the original lab so that its notebook's imports work.
"""
from enum import Enum, auto

import numpy as np


class TemporalOrderExp6aSequence:
    """Batches of (one-hot sequences (B, T, 8), one-hot classes (B, 4)) as numpy arrays."""

    class DifficultyLevel(Enum):
        EASY = auto()
        NORMAL = auto()
        MODERATE = auto()
        DIFFICULT = auto()
        VERY_DIFFICULT = auto()

    # (sequence length range, t1 range, t2 range); each range is [low, high).
    _LEVELS = {
        "EASY": ((7, 9), (1, 3), (4, 6)),
        "NORMAL": ((30, 41), (2, 6), (20, 28)),
        "MODERATE": ((60, 80), (10, 20), (45, 54)),
        "DIFFICULT": ((100, 111), (10, 21), (50, 61)),
        "VERY_DIFFICULT": ((300, 501), (10, 81), (250, 291)),
    }

    def __init__(self, relevant_symbols, distraction_symbols, start_symbol, end_symbol,
                 sequence_length_range, t1_range, t2_range, batch_size=32, rng=None):
        self.relevant_symbols = list(relevant_symbols)
        self.distraction_symbols = list(distraction_symbols)
        self.start_symbol = start_symbol
        self.end_symbol = end_symbol
        self.sequence_length_range = tuple(sequence_length_range)
        self.t1_range = tuple(t1_range)
        self.t2_range = tuple(t2_range)
        self.batch_size = batch_size
        # None draws from numpy's global generator (what the lab's seeding expects);
        # a RandomState gives an independent, reproducible stream (evaluation sets).
        self.rng = np.random if rng is None else rng

        self.classes = ["Q", "R", "S", "U"]
        self.n_classes = len(self.classes)
        self.all_symbols = (self.relevant_symbols + self.distraction_symbols
                            + [self.start_symbol, self.end_symbol])
        self.n_symbols = len(self.all_symbols)
        self.s_to_idx = {s: i for i, s in enumerate(self.all_symbols)}
        self.idx_to_s = dict(enumerate(self.all_symbols))
        self.c_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.idx_to_c = dict(enumerate(self.classes))
        # Every sequence is pre-padded to the longest possible length.
        self.padded_length = self.sequence_length_range[1]

    def generate_pair(self):
        """One (sequence string, class letter) pair."""
        length = self.rng.randint(*self.sequence_length_range)
        t1 = self.rng.randint(*self.t1_range)
        t2 = self.rng.randint(*self.t2_range)
        body = self.rng.choice(self.distraction_symbols, size=length)
        x = [str(s) for s in body]
        x[0], x[-1] = self.start_symbol, self.end_symbol
        pair = self.rng.choice(self.relevant_symbols, size=2)
        x[t1], x[t2] = str(pair[0]), str(pair[1])
        y = self.classes[2 * self.relevant_symbols.index(pair[0])
                         + self.relevant_symbols.index(pair[1])]
        return "".join(x), y

    def __len__(self):
        # The lab's "1000 sequences per epoch" rounded down to whole batches: 31.
        return int(1000 / self.batch_size)

    def __getitem__(self, index):
        if index >= len(self):
            raise IndexError(index)
        if _plain(self):
            return _draw_batch(self)
        batch_x = np.zeros((self.batch_size, self.padded_length, self.n_symbols))
        batch_y = np.zeros((self.batch_size, self.n_classes))
        for b in range(self.batch_size):
            x, y = self.generate_pair()
            encoded = self.encode_x(x)
            batch_x[b, self.padded_length - len(x):] = encoded
            batch_y[b] = self.encode_y(y)
        return batch_x, batch_y

    def encode_x(self, x):
        """A sequence string -> one-hot array (len(x), n_symbols)."""
        out = np.zeros((len(x), self.n_symbols))
        out[np.arange(len(x)), [self.s_to_idx[s] for s in x]] = 1
        return out

    def encode_y(self, y):
        """A class letter -> one-hot array (n_classes,)."""
        out = np.zeros(self.n_classes)
        out[self.c_to_idx[y]] = 1
        return out

    def decode_x(self, x):
        """One-hot rows -> sequence string; all-zero (padding) rows are dropped."""
        x = np.asarray(x)
        x = x[np.sum(x, axis=1) > 0]
        return "".join(self.idx_to_s[int(i)] for i in np.argmax(x, axis=1))

    def decode_y(self, y):
        """One-hot (or score) vector -> class letter."""
        return self.idx_to_c[int(np.argmax(y))]

    def decode_x_batch(self, xs):
        return [self.decode_x(x) for x in xs]

    def decode_y_batch(self, ys):
        return [self.decode_y(y) for y in ys]

    @staticmethod
    def get_predefined_generator(difficulty_level, batch_size=32, seed=8382, rng=None):
        """A generator for one of the predefined difficulty levels.

        Seeds numpy's global generator with `seed` (as the lab does: two generators made
        one after the other then share that stream) unless an explicit `rng` is given.
        """
        name = getattr(difficulty_level, "name", difficulty_level)
        length_range, t1_range, t2_range = TemporalOrderExp6aSequence._LEVELS[name]
        if rng is None:
            np.random.seed(seed)
        return TemporalOrderExp6aSequence(
            relevant_symbols=["X", "Y"], distraction_symbols=["a", "b", "c", "d"],
            start_symbol="B", end_symbol="E", sequence_length_range=length_range,
            t1_range=t1_range, t2_range=t2_range, batch_size=batch_size, rng=rng)


# The same batches, drawn faster: generate_pair makes each sequence a string and
# __getitem__ one-hot encodes it symbol by symbol, which cost more than the lab's small
# LSTM's training steps. _draw_batch makes the same rng calls in the same order with the
# same arguments (rng.choice over a list of n items draws exactly rng.randint(0, n, size):
# same batches, same later draws; tests/reference/test_support_files.py pins both paths) and
# writes the one-hot rows directly. Only a generator with the lab's symbols and the class's
# own methods takes it.

_OWN_METHODS = ("generate_pair", "encode_x", "encode_y")


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _plain(gen):
    try:
        return (type(gen) is TemporalOrderExp6aSequence and not any(m in gen.__dict__ for m in _OWN_METHODS)
                and gen.relevant_symbols == ["X", "Y"] and gen.distraction_symbols == ["a", "b", "c", "d"]
                and gen.start_symbol == "B" and gen.end_symbol == "E" and gen.classes == ["Q", "R", "S", "U"]
                and gen.all_symbols == ["X", "Y", "a", "b", "c", "d", "B", "E"] and gen.n_symbols == 8
                and gen.n_classes == 4 and gen.s_to_idx == {s: i for i, s in enumerate(gen.all_symbols)}
                and gen.c_to_idx == {"Q": 0, "R": 1, "S": 2, "U": 3}
                and _is_int(gen.batch_size) and gen.batch_size > 0 and _is_int(gen.padded_length)
                and _is_int(gen.sequence_length_range[1]) and gen.padded_length >= gen.sequence_length_range[1]
                and all(len(r) == 2 and _is_int(r[0]) and _is_int(r[1])
                        for r in (gen.sequence_length_range, gen.t1_range, gen.t2_range)))
    except Exception:
        return False


def _draw_batch(gen):
    """What __getitem__'s general path returns for a plain generator, with the same draws."""
    rng, size, width = gen.rng, gen.batch_size, gen.padded_length
    batch_x = np.zeros((size, width, 8))
    batch_y = np.zeros((size, 4))
    for b in range(size):
        length = rng.randint(*gen.sequence_length_range)
        t1 = rng.randint(*gen.t1_range)
        t2 = rng.randint(*gen.t2_range)
        x = rng.randint(0, 4, size=length) + 2  # the distractors a b c d: columns 2-5
        x[0], x[-1] = 6, 7  # B, E
        first, second = rng.randint(0, 2, size=2)  # X = column 0, Y = column 1
        if not (-length <= t1 < length and -length <= t2 < length):
            raise IndexError("list assignment index out of range")  # what the list in generate_pair raises
        x[t1], x[t2] = first, second
        batch_x[b, np.arange(width - length, width), x] = 1
        batch_y[b, 2 * first + second] = 1
    return batch_x, batch_y
