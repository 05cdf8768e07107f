"""Fine-tuning data handled the way lorafarm's engine handles it
(docs/training.md "Data"), so that the two trainers see the same batches:

- `{split}.jsonl` lines are {"text"}, {"prompt", "completion"} (plain
  concatenation) or {"messages": [{"role", "content"}]} rendered as
  "### Role:\\ncontent\\n\\n" per message; a blank last line is allowed.
- A sample is [BOS] (when the tokenizer adds one) + ids + [EOS], cut at max_seq_length; with
  completion_only_loss the prompt's tokens carry no loss.
- Training batches: samples stably sorted by length, cut into groups of
  batch_size (the last incomplete group dropped); every epoch visits the
  groups in an order shuffled by Fisher-Yates with std::mt19937_64(seed)
  (`swap(items[i-1], items[rng() % i])` for i = n..2).
- Evaluation: the same length-sorted groups, the last partial one kept.
- A batch is right-padded: inputs t, targets t+1, weight 1 on real targets.
"""
import json
import os

import torch

MASK64 = (1 << 64) - 1


class DataError(ValueError):
    pass


class MersenneTwister64:
    """std::mt19937_64 (Matsumoto and Nishimura's 64-bit Mersenne Twister, the
    parameters C++ <random> fixes: n 312, m 156, r 31, a 0xB5026F5AA96619E9,
    u 29, d 0x5555555555555555, s 17, b 0x71D67FFFEDA60000, t 37,
    c 0xFFF7EEE000000000, l 43, f 6364136223846793005)."""

    N, M = 312, 156
    UPPER, LOWER = 0xFFFFFFFF80000000, 0x7FFFFFFF

    def __init__(self, seed):
        self.state = [seed & MASK64]
        for i in range(1, self.N):
            prev = self.state[-1]
            self.state.append((6364136223846793005 * (prev ^ (prev >> 62)) + i) & MASK64)
        self.index = self.N

    def _twist(self):
        s = self.state
        for i in range(self.N):
            x = (s[i] & self.UPPER) | (s[(i + 1) % self.N] & self.LOWER)
            s[i] = s[(i + self.M) % self.N] ^ (x >> 1) ^ (0xB5026F5AA96619E9 if x & 1 else 0)
        self.index = 0

    def __call__(self):
        if self.index >= self.N:
            self._twist()
        y = self.state[self.index]
        self.index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        return (y ^ (y >> 43)) & MASK64


def seeded_shuffle(items, rng):
    for i in range(len(items), 1, -1):
        j = rng() % i
        items[i - 1], items[j] = items[j], items[i - 1]


def role_header(role):
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    return f"### {names.get(role, role)}:\n"


def _string(record, key, where):
    value = record.get(key)
    if not isinstance(value, str):
        raise DataError(f"{where}: expected a string field '{key}'")
    return value


def record_text(record, where):
    """(full text, prompt text) of one record in any of the three formats."""
    if "text" in record:
        return _string(record, "text", where), ""
    if "prompt" in record or "completion" in record:
        prompt = _string(record, "prompt", where)
        return prompt + _string(record, "completion", where), prompt
    if "messages" in record:
        messages = record["messages"]
        if not isinstance(messages, list) or not messages:
            raise DataError(f"{where}: 'messages' must be a non-empty array")
        parts = []
        for m in messages:
            if not isinstance(m, dict):
                raise DataError(f"{where}: each message must be an object with role and content")
            parts.append((_string(m, "role", where + ": message"), _string(m, "content", where + ": message")))
        rendered = [role_header(role) + content + "\n\n" for role, content in parts]
        return "".join(rendered), "".join(rendered[:-1]) + role_header(parts[-1][0])
    raise DataError(f"{where}: a record needs 'text', 'prompt' and 'completion', or 'messages'")


def read_jsonl(path):
    """(line number, object) of each line; blank lines only at the very end."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    records = []
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r")
        if not line.strip(" \t"):
            if number == len(lines):
                break
            raise DataError(f"{path}:{number}: empty line")
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{number}: malformed JSON: {e}") from None
        if not isinstance(value, dict):
            raise DataError(f"{path}:{number}: expected a JSON object")
        records.append((number, value))
    return records


def load_split(folder, split, tokenizer, max_seq_length, completion_only_loss=False):
    """[(tokens, prompt_tokens)] of {folder}/{split}.jsonl."""
    path = os.path.join(folder, split + ".jsonl")
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    samples = []
    for number, record in read_jsonl(path):
        where = f"{path}:{number}"
        text, prompt = record_text(record, where)
        bos = [tokenizer.bos_id] if tokenizer.add_bos else []
        tokens = bos + tokenizer.encode(text)
        if not tokens or tokens[-1] != tokenizer.eos_id:
            tokens.append(tokenizer.eos_id)
        prompt_tokens = len(bos) + len(tokenizer.encode(prompt)) if completion_only_loss and prompt else 0
        tokens = tokens[:max_seq_length]
        if len(tokens) <= max(1, prompt_tokens):
            raise DataError(f"{where}: no token carries loss ({len(tokens)} tokens, {prompt_tokens} of them prompt, "
                            f"max_seq_length {max_seq_length})")
        samples.append((tokens, prompt_tokens))
    if not samples:
        raise DataError(f"{path}: the {split} set is empty")
    return samples


def length_sorted_batches(samples, batch_size, keep_partial):
    order = sorted(range(len(samples)), key=lambda i: len(samples[i][0]))  # sorted() is stable
    batches = [order[first:first + batch_size] for first in range(0, len(order), batch_size)]
    if batches and len(batches[-1]) < batch_size and not keep_partial:
        batches.pop()
    return batches


def make_batch(samples, indices):
    """(inputs, targets, weights) tensors [batch, length] of right-padded samples."""
    length = max(len(samples[i][0]) for i in indices) - 1
    inputs = torch.zeros(len(indices), length, dtype=torch.long)
    targets = torch.zeros(len(indices), length, dtype=torch.long)
    weights = torch.zeros(len(indices), length)
    for row, i in enumerate(indices):
        tokens, prompt_tokens = samples[i]
        n = len(tokens) - 1
        inputs[row, :n] = torch.tensor(tokens[:-1])
        targets[row, :n] = torch.tensor(tokens[1:])
        first_loss = max(1, prompt_tokens)  # index of the first token that carries loss
        weights[row, first_loss - 1:n] = 1.0
    return inputs, targets, weights


class BatchStream:
    """Endless training batches: each epoch the length-sorted groups in a fresh seeded order."""

    def __init__(self, samples, batch_size, seed):
        if len(samples) < batch_size:
            raise DataError(f"the training set has {len(samples)} samples, fewer than the batch size {batch_size}")
        self.samples = samples
        self.batches = length_sorted_batches(samples, batch_size, keep_partial=False)
        self.rng = MersenneTwister64(seed)
        self.order, self.position = [], 0

    def batches_per_epoch(self):
        return len(self.batches)

    def next(self):
        if self.position >= len(self.order):
            self.order = list(range(len(self.batches)))
            seeded_shuffle(self.order, self.rng)
            self.position = 0
        batch = self.batches[self.order[self.position]]
        self.position += 1
        return make_batch(self.samples, batch)
