"""A sentencepiece BPE tokenizer read from a `tokenizer.model` file, written
from the format and the algorithm sentencepiece documents (no sentencepiece
library): enough for Llama-2-style models such as the bundled stories260K.

tokenizer.model is a protobuf `ModelProto`: field 1 repeats the pieces
(piece string 1, score float 2, type enum 3), field 2 is the TrainerSpec
(model_type 3, byte_fallback 35, unk/bos/eos ids 40/41/42), field 3 the
NormalizerSpec (name 1, precompiled_charsmap 2, add_dummy_prefix 3,
remove_extra_whitespaces 4, escape_whitespaces 5).

Encoding (sentencepiece's BPE model): normalize (drop leading and trailing
spaces and collapse runs of spaces, prepend the dummy "▁", spaces become
"▁"), split into characters, then repeatedly merge the adjacent pair whose
concatenation is a normal piece with the highest score (ties: leftmost);
symbols that are not pieces become their UTF-8 bytes' <0xNN> pieces
(byte_fallback) or <unk>.
"""
import heapq
import struct

SPACE = "\u2581"
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
BPE_MODEL = 2


class TokenizerError(ValueError):
    pass


def _varint(data, pos):
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise TokenizerError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data):
    """(field number, wire type, value) of each field of a protobuf message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise TokenizerError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


class SentencePieceBPE:
    def __init__(self, path):
        with open(path, "rb") as f:
            data = f.read()
        self.pieces, self.scores, self.types = [], [], []
        trainer, normalizer = b"", b""
        for number, _, value in _fields(data):
            if number == 1:
                self._add_piece(value)
            elif number == 2:
                trainer = value
            elif number == 3:
                normalizer = value
        self._read_trainer(trainer, path)
        self._read_normalizer(normalizer, path)
        self.ids = {p: i for i, p in enumerate(self.pieces) if self.types[i] in (NORMAL, USER_DEFINED, UNUSED)}
        self.byte_ids = {}
        for i, p in enumerate(self.pieces):
            if self.types[i] == BYTE:
                self.byte_ids[int(p[3:5], 16)] = i
        self.word_cache = {}
        # Whether no normal piece holds "▁" past its first character: then no
        # merge crosses a "▁" and every "▁word" encodes on its own (cached).
        self.words_independent = all(SPACE not in p[1:] for p in self.ids)

    def _add_piece(self, message):
        piece, score, kind = "", 0.0, NORMAL
        for number, _, value in _fields(message):
            if number == 1:
                piece = value.decode("utf-8")
            elif number == 2:
                score = struct.unpack("<f", value)[0]
            elif number == 3:
                kind = value
        self.pieces.append(piece)
        self.scores.append(score)
        self.types.append(kind)

    def _read_trainer(self, message, path):
        model_type, self.byte_fallback = 1, False
        self.unk_id, self.bos_id, self.eos_id = 0, 1, 2
        for number, _, value in _fields(message):
            if number == 3:
                model_type = value
            elif number == 35:
                self.byte_fallback = bool(value)
            elif number in (40, 41, 42):
                signed = value - (1 << 64) if value >= 1 << 63 else value
                setattr(self, {40: "unk_id", 41: "bos_id", 42: "eos_id"}[number], signed)
        if model_type != BPE_MODEL:
            raise TokenizerError(f"{path}: sentencepiece model_type {model_type} is not BPE (2); only BPE is supported")

    def _read_normalizer(self, message, path):
        self.add_dummy_prefix = self.remove_extra_whitespaces = self.escape_whitespaces = True
        name = "identity"
        for number, _, value in _fields(message):
            if number == 1:
                name = value.decode("utf-8")
            elif number == 2 and value:
                raise TokenizerError(f"{path}: a precompiled normalization charsmap is not supported")
            elif number == 3:
                self.add_dummy_prefix = bool(value)
            elif number == 4:
                self.remove_extra_whitespaces = bool(value)
            elif number == 5:
                self.escape_whitespaces = bool(value)
        if name != "identity":
            raise TokenizerError(f"{path}: normalizer '{name}' is not supported (only identity)")

    def vocab_size(self):
        return len(self.pieces)

    def normalize(self, text):
        if self.remove_extra_whitespaces:
            text = text.strip(" ")
            while "  " in text:
                text = text.replace("  ", " ")
        if not text:
            return ""
        if self.add_dummy_prefix:
            text = " " + text
        return text.replace(" ", SPACE) if self.escape_whitespaces else text

    def encode(self, text):
        normalized = self.normalize(text)
        if not self.words_independent:
            return self._symbols_to_ids(self._merge(list(normalized)))
        ids = []
        start = 0
        for end in range(1, len(normalized) + 1):
            if end == len(normalized) or normalized[end] == SPACE:
                ids.extend(self._encode_word(normalized[start:end]))
                start = end
        return ids

    def _encode_word(self, word):
        cached = self.word_cache.get(word)
        if cached is None:
            cached = self._symbols_to_ids(self._merge(list(word)))
            self.word_cache[word] = cached
        return cached

    def _merge(self, symbols):
        """Highest-score merges first (ties: leftmost), over a linked list with a lazy heap."""
        n = len(symbols)
        nxt, prv = list(range(1, n + 1)), list(range(-1, n - 1))
        heap = []

        def push(left):
            right = nxt[left]
            if right < n:
                merged = symbols[left] + symbols[right]
                piece = self.ids.get(merged)
                if piece is not None and self.types[piece] != UNUSED:
                    heapq.heappush(heap, (-self.scores[piece], left, merged))

        for i in range(n - 1):
            push(i)
        while heap:
            _, left, merged = heapq.heappop(heap)
            right = nxt[left]
            if symbols[left] is None or right >= n or symbols[left] + symbols[right] != merged:
                continue  # stale entry: one side has changed since it was pushed
            symbols[left], symbols[right] = merged, None
            nxt[left] = nxt[right]
            if nxt[left] < n:
                prv[nxt[left]] = left
            if prv[left] >= 0:
                push(prv[left])
            push(left)
        return [s for s in symbols if s is not None]

    def _symbols_to_ids(self, symbols):
        ids = []
        for s in symbols:
            piece = self.ids.get(s)
            if piece is not None:
                ids.append(piece)
            elif self.byte_fallback:
                ids.extend(self.byte_ids[b] for b in s.encode("utf-8"))
            else:
                ids.append(self.unk_id)
        return ids
