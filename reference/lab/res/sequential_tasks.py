"""Synthetic sequence tasks of the course's lab notebooks (lab-faithful version).

Same public names, signatures, return types and random draws as the course repository's
`res/sequential_tasks.py`: every random number comes from numpy's GLOBAL generator
(`np.random.*`), in the same order and with the same arguments, so that a notebook that
seeds a generator gets bit-identical batches here and in the course. Do not add, remove
or reorder a single `np.random` call: tests/reference/test_lab_support_files.py pins the
stream with golden values measured on the course's own module.

Contents:
- pad_sequences, to_categorical: Keras-style array helpers (no Keras dependency);
- EchoData: a binary echo task cut into truncated-BPTT chunks;
- TemporalOrderExp6aSequence: the "temporal order" classification task (experiment 6a
  of Hochreiter & Schmidhuber, 1997) used by 08-seq_classification.ipynb.
"""
import numpy as np

__all__ = ["pad_sequences", "to_categorical", "EchoData", "TemporalOrderExp6aSequence"]


# Array helpers -------------------------------------------------------------------------

def _cut_pre(seq, maxlen):
    return seq[-maxlen:]  # keeps the LAST maxlen items (note: maxlen 0 keeps everything)


def _cut_post(seq, maxlen):
    return seq[:maxlen]  # keeps the first maxlen items


_TRUNCATIONS = {"pre": _cut_pre, "post": _cut_post}


def pad_sequences(sequences, maxlen=None, dtype='int32',
                  padding='pre', truncating='pre', value=0.):
    """Packs a list of variable-length sequences into one array.

    The result has shape (len(sequences), maxlen) + item shape, where the item shape is
    that of the first non-empty sequence (each sequence is (length, *item shape)). It is
    filled with `value`; each sequence is truncated to `maxlen` items (dropping items at
    the start with truncating='pre', at the end with 'post') and written at the end of
    its row (padding='pre') or at the start ('post'). maxlen=None uses the longest
    sequence. The default dtype is int32, so float inputs are truncated to integers.
    Raises ValueError for non-iterable input, an inconsistent item shape, an unknown
    padding/truncating mode, or a string `value` with a non-string, non-object dtype.
    """
    if not hasattr(sequences, '__len__'):
        raise ValueError('`sequences` must be iterable.')
    lengths = []
    for seq in sequences:
        if not hasattr(seq, '__len__'):
            raise ValueError('`sequences` must be a list of iterables. '
                             'Found non-iterable: ' + str(seq))
        lengths.append(len(seq))
    if maxlen is None:
        maxlen = np.max(lengths)

    item_shape = ()
    for seq in sequences:
        if len(seq) > 0:
            item_shape = np.asarray(seq).shape[1:]
            break

    string_dtype = np.issubdtype(dtype, np.str_)
    if isinstance(value, str) and dtype != object and not string_dtype:
        raise ValueError("`dtype` {} is not compatible with `value`'s type: {}\n"
                         "You should set `dtype=object` for variable length strings."
                         .format(dtype, type(value)))

    packed = np.full((len(sequences), maxlen) + item_shape, value, dtype=dtype)
    for row, seq in enumerate(sequences):
        if not len(seq):
            continue  # an empty sequence leaves its row filled with `value`
        if truncating not in _TRUNCATIONS:
            raise ValueError('Truncating type "%s" not understood' % truncating)
        kept = np.asarray(_TRUNCATIONS[truncating](seq, maxlen), dtype=dtype)
        if kept.shape[1:] != item_shape:
            raise ValueError('Shape of sample %s of sequence at position %s '
                             'is different from expected shape %s'
                             % (kept.shape[1:], row, item_shape))
        if padding == 'pre':
            packed[row, -len(kept):] = kept
        elif padding == 'post':
            packed[row, :len(kept)] = kept
        else:
            raise ValueError('Padding type "%s" not understood' % padding)
    return packed


def to_categorical(y, num_classes=None, dtype='float32'):
    """One-hot encoding of integer labels: shape y.shape + (num_classes,), except that a
    trailing axis of size 1 (on 2+ dimensional input) is replaced. num_classes None (or
    0) means max(y) + 1. A scalar label gives a vector (num_classes,)."""
    labels = np.array(y, dtype='int')
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    labels = labels.ravel()
    if not num_classes:
        num_classes = np.max(labels) + 1
    count = labels.shape[0]
    onehot = np.zeros((count, num_classes), dtype=dtype)
    onehot[np.arange(count), labels] = 1
    return np.reshape(onehot, shape + (num_classes,))


# Echo ----------------------------------------------------------------------------------

class EchoData():
    """A binary series and its copy delayed by `echo_step` (the first `echo_step` targets
    are 0), for batch_size parallel streams of series_length bits, cut into
    series_length // truncated_length chunks of (batch_size, truncated_length, 1).

    Indexing returns (x chunk, y chunk); index 0 draws a fresh series first. Drawn from
    numpy's global generator, seeded with `seed` when it is not None.
    """

    def __init__(self, series_length=40000, batch_size=32,
                 echo_step=3, truncated_length=10, seed=None):
        self.series_length = series_length
        self.truncated_length = truncated_length
        self.n_batches = series_length // truncated_length
        self.echo_step = echo_step
        self.batch_size = batch_size
        if seed is not None:
            np.random.seed(seed)
        self.x_batch = None
        self.y_batch = None
        self.x_chunks = []
        self.y_chunks = []
        self.generate_new_series()
        self.prepare_batches()

    def __getitem__(self, index):
        if index == 0:
            self.generate_new_series()
            self.prepare_batches()
        return self.x_chunks[index], self.y_chunks[index]

    def __len__(self):
        return self.n_batches

    def generate_new_series(self):
        bits = np.random.choice(2, size=(self.batch_size, self.series_length), p=[0.5, 0.5])
        echo = np.roll(bits, self.echo_step, axis=1)
        echo[:, 0:self.echo_step] = 0
        self.x_batch = bits
        self.y_batch = echo

    def prepare_batches(self):
        self.x_chunks = np.split(self.x_batch[..., np.newaxis], self.n_batches, axis=1)
        self.y_chunks = np.split(self.y_batch[..., np.newaxis], self.n_batches, axis=1)


# Temporal order (experiment 6a) --------------------------------------------------------

# Relevant-symbol pair written at (t1, t2) for each class letter; any other letter -> YY.
_PAIR_INDICES = {'Q': (0, 0), 'R': (0, 1), 'S': (1, 0)}
_DEFAULT_PAIR = (1, 1)


class TemporalOrderExp6aSequence():
    """The temporal-order task (Hochreiter & Schmidhuber, 1997, experiment 6a).

    A sequence begins with B, ends with E and is otherwise made of distractors a, b, c,
    d, except at positions t1 and t2, which hold a relevant symbol X or Y. Its class is
    the ordered pair at (t1, t2): XX -> Q, XY -> R, YX -> S, YY -> U. Sequence length,
    t1 and t2 are drawn as np.random.randint(low, high) from the given (low, high)
    ranges (high excluded); the defaults are the paper's settings (lengths 100-110, t1
    10-20, t2 50-60).

    Indexing (any index) draws a fresh batch from numpy's global generator: (x, y) with
    x int32 (batch_size, length_range[1], 8), one-hot rows, pre-padded with zero rows,
    and y float32 (batch_size, 4) one-hot classes. len() is int(1000 / batch_size)
    batches, i.e. about 1000 sequences per "epoch". A `seed` seeds numpy's global
    generator (np.random.seed) when the generator is made.
    """

    class DifficultyLevel:
        """Predefined task sizes (plain ints). HARD is the paper's setting."""
        EASY = 0
        NORMAL = 1
        MODERATE = 2
        HARD = 3
        NIGHTMARE = 4

    # (length range, t1 range, t2 range) per level, each range (low, high) with high
    # excluded; a level equal to none of these gets _NIGHTMARE_RANGES.
    _LEVEL_RANGES = (
        (DifficultyLevel.EASY, ((7, 9), (1, 3), (4, 6))),
        (DifficultyLevel.NORMAL, ((30, 41), (2, 6), (20, 28))),
        (DifficultyLevel.MODERATE, ((60, 81), (10, 21), (45, 55))),
        (DifficultyLevel.HARD, ((100, 111), (10, 21), (50, 61))),
    )
    _NIGHTMARE_RANGES = ((300, 501), (10, 81), (250, 291))

    def __init__(self, length_range=(100, 111), t1_range=(10, 21), t2_range=(50, 61),
                 batch_size=32, seed=None):
        self.classes = ['Q', 'R', 'S', 'U']
        self.n_classes = len(self.classes)
        self.relevant_symbols = ['X', 'Y']
        self.distraction_symbols = ['a', 'b', 'c', 'd']
        self.start_symbol = 'B'
        self.end_symbol = 'E'

        self.length_range = length_range
        self.t1_range = t1_range
        self.t2_range = t2_range
        self.batch_size = batch_size

        if seed is not None:
            np.random.seed(seed)

        # Input alphabet, in one-hot column order: X Y a b c d B E.
        symbols = [*self.relevant_symbols, *self.distraction_symbols,
                   self.start_symbol, self.end_symbol]
        self.n_symbols = len(symbols)
        self.s_to_idx = {symbol: i for i, symbol in enumerate(symbols)}
        self.idx_to_s = dict(enumerate(symbols))
        self.c_to_idx = {label: i for i, label in enumerate(self.classes)}
        self.idx_to_c = dict(enumerate(self.classes))

    def generate_pair(self):
        """One random (sequence string, class letter) pair.

        Draw order (the random stream depends on it): length, t1, t2, the distractors of
        the whole sequence, then the class.
        """
        length = np.random.randint(self.length_range[0], self.length_range[1])
        t1 = np.random.randint(self.t1_range[0], self.t1_range[1])
        t2 = np.random.randint(self.t2_range[0], self.t2_range[1])
        seq = np.random.choice(self.distraction_symbols, length)
        seq[0] = self.start_symbol
        seq[-1] = self.end_symbol
        label = np.random.choice(self.classes)
        first, second = _PAIR_INDICES.get(label, _DEFAULT_PAIR)
        seq[t1] = self.relevant_symbols[first]
        seq[t2] = self.relevant_symbols[second]
        return ''.join(seq), label

    # One sequence / one label.

    def encode_x(self, x):
        """Sequence string -> float32 one-hot array (len(x), n_symbols)."""
        return to_categorical([self.s_to_idx[symbol] for symbol in x],
                              num_classes=self.n_symbols)

    def encode_y(self, y):
        """Class letter -> float32 one-hot vector (n_classes,)."""
        return to_categorical(self.c_to_idx[y], num_classes=self.n_classes)

    def decode_x(self, x):
        """One-hot array (T, n_symbols) -> sequence string; all-zero (padding) rows are
        skipped."""
        x = x[np.sum(x, axis=1) > 0]
        return ''.join(self.idx_to_s[i] for i in np.argmax(x, axis=1))

    def decode_y(self, y):
        """One-hot (or score) vector -> class letter of its largest entry."""
        return self.idx_to_c[np.argmax(y)]

    # Batches.

    def encode_x_batch(self, x_batch):
        """Sequence strings -> int32 array (B, length_range[1], n_symbols), pre-padded."""
        return pad_sequences([self.encode_x(x) for x in x_batch], maxlen=self.length_range[1])

    def encode_y_batch(self, y_batch):
        """Class letters -> float32 array (B, n_classes)."""
        return np.array([self.encode_y(y) for y in y_batch])

    def decode_x_batch(self, x_batch):
        return [self.decode_x(x) for x in x_batch]

    def decode_y_batch(self, y_batch):
        return [self.idx_to_c[i] for i in np.argmax(y_batch, axis=1)]

    def __len__(self):
        """Batches per "epoch": about 1000 sequences (31 batches of 32)."""
        return int(1000. / self.batch_size)

    def __getitem__(self, index):
        """A freshly drawn batch (x, y); the index is ignored (so iterating never ends)."""
        if _plain(self):
            return _draw_batch(self)
        sequences, labels = [], []
        for _ in range(self.batch_size):
            sequence, label = self.generate_pair()
            sequences.append(sequence)
            labels.append(label)
        return self.encode_x_batch(sequences), self.encode_y_batch(labels)

    @staticmethod
    def get_predefined_generator(difficulty_level, batch_size=32, seed=8382):
        """A generator for a DifficultyLevel; seeds numpy's global generator with `seed`
        (two generators made one after the other therefore share one stream)."""
        ranges = TemporalOrderExp6aSequence._NIGHTMARE_RANGES
        for level, level_ranges in TemporalOrderExp6aSequence._LEVEL_RANGES:
            if difficulty_level == level:
                ranges = level_ranges
                break
        length_range, t1_range, t2_range = ranges
        return TemporalOrderExp6aSequence(length_range, t1_range, t2_range, batch_size, seed)


# The same batches, drawn faster ---------------------------------------------------------
#
# The lab's generator makes every sequence a string and one-hot encodes it symbol by
# symbol: most of an epoch of the lab's small LSTM went into that. `_draw_batch` makes the
# same np.random calls in the same order with the same arguments (np.random.choice over a
# list of n items draws exactly np.random.randint(0, n, size): the stream, and therefore
# every batch and every later global draw, is bit-identical; tests/reference/
# test_lab_support_files.py pins both paths on golden values) and writes the one-hot rows
# directly. It is used only for a generator whose symbols, classes and methods are the
# class's own: anything a notebook changed goes through the general path above.

_SYMBOLS = ['X', 'Y', 'a', 'b', 'c', 'd', 'B', 'E']
_OWN_METHODS = ('generate_pair', 'encode_x', 'encode_y', 'encode_x_batch', 'encode_y_batch')


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _plain(gen):
    d = gen.__dict__
    try:
        return (type(gen) is TemporalOrderExp6aSequence and not any(m in d for m in _OWN_METHODS)
                and gen.classes == ['Q', 'R', 'S', 'U'] and gen.relevant_symbols == ['X', 'Y']
                and gen.distraction_symbols == ['a', 'b', 'c', 'd'] and gen.start_symbol == 'B'
                and gen.end_symbol == 'E' and gen.s_to_idx == {s: i for i, s in enumerate(_SYMBOLS)}
                and gen.c_to_idx == {'Q': 0, 'R': 1, 'S': 2, 'U': 3} and gen.n_symbols == 8 and gen.n_classes == 4
                and _is_int(gen.batch_size) and gen.batch_size > 0
                and all(len(r) == 2 and _is_int(r[0]) and _is_int(r[1])
                        for r in (gen.length_range, gen.t1_range, gen.t2_range)))
    except Exception:
        return False


def _draw_batch(gen):
    """What __getitem__'s general path returns for a plain generator, and the same draws."""
    (l0, l1), (a0, a1), (b0, b1) = gen.length_range, gen.t1_range, gen.t2_range
    size = gen.batch_size
    x = np.zeros((size, l1, 8), dtype=np.int32)
    y = np.zeros((size, 4), dtype=np.float32)
    for row in range(size):
        length = np.random.randint(l0, l1)
        t1 = np.random.randint(a0, a1)
        t2 = np.random.randint(b0, b1)
        seq = np.random.randint(0, 4, size=length) + 2  # the distractors a b c d: columns 2-5
        seq[0] = 6  # B
        seq[-1] = 7  # E
        label = int(np.random.randint(0, 4))
        first, second = _PAIR_INDICES.get(gen.classes[label], _DEFAULT_PAIR)
        seq[t1] = first
        seq[t2] = second
        x[row, np.arange(l1 - length, l1), seq] = 1
        y[row, label] = 1
    return x, y
