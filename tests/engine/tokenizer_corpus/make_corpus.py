#!/usr/bin/env python3
"""Writes corpus.jsonl: the lines the real-tokenizer test encodes, one JSON string a line
(so a line may hold newlines, tabs and any code point). Deterministic (fixed seed); run
from this folder: python3 make_corpus.py > corpus.jsonl

Each family of lines stresses one part of a tokenizer: the split regex (contractions,
digit runs, whitespace runs, letters vs marks vs symbols), the normalizer (NFD input that
NFC must compose), byte-level BPE on multi-byte scripts and emoji, added tokens written
literally, and letters/digits added in Unicode 15 and 16, whose category differs between
Unicode versions."""
import json
import random
import unicodedata

rng = random.Random(20261207)

WORDS = ("the a of and to in is was it he she they we you I that with for on as at by "
         "this had not are but from or have an were which one all there her his their "
         "model training loss token weight layer adapter learning rate batch epoch "
         "running quickly beautiful Internet JSON Python tokenizer Hugging Face "
         "don't can't won't it's I'm we're they've she'll he'd O'Neil rock'n'roll").split()
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M", "'LL", "'D",
                "'\u017f", "\u2019s", "'x", "''", "'"]
PUNCT = list(".,;:!?()[]{}<>\"'-_/\\|@#$%^&*+=~`") + ["...", "--", "\u2014", "\u201c", "\u201d", "\u00ab", "\u00bb"]
SPACES = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n", "\n ", " \t ", "\u00a0", "\u3000",
          "\u2009", "\u200b", "\u2028", "\u0085", "\x0b", "\x0c", "\r"]
SCRIPTS = {
    "cjk": "\u6211\u4eec\u4eca\u5929\u5b66\u4e60\u5206\u8bcd\u5668\u3002\u6a5f\u68b0\u5b66\u7fd2\u306f\u697d\u3057\u3044\u3067\u3059\u3002"
           "\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a\uff0c\u6f22\u5b57\u3001\u4e2d\u6587\uff01\u8a9e\ud7a3",
    "hangul": "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\ub97c \ud1a0\ud070\ud654\ud569\ub2c8\ub2e4",
    "arabic": "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645\u060c \u0647\u0630\u0627 \u0646\u0635 \u0639\u0631\u0628\u064a\u064c \u0661\u0662\u0663\u0664\u0665\u061f",
    "devanagari": "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e\u0964 \u092f\u0939 \u0939\u093f\u0902\u0926\u0940 \u092a\u093e\u0920 \u0939\u0948 \u0967\u0968\u0969",
    "cyrillic": "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u042d\u0442\u043e \u0442\u0435\u0441\u0442 \u0422\u041e\u041a\u0415\u041d\u0418\u0417\u0410\u0422\u041e\u0420\u0410.",
    "greek": "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5 \u0391\u0392\u0393 \u03b1\u03b2\u03b3",
    "thai": "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01",
    "hebrew": "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "latin": "\u00e9t\u00e9 na\u00efve fa\u00e7ade \u00c5ngstr\u00f6m \u0160koda \u0141\u00f3d\u017a Stra\u00dfe \u1ebfch \u01c5 \u0130stanbul \ufb01ne \u2160\u2161",
    "math": "\u2200x\u2208\u211d: x\u00b2 \u2265 0 \u2211 \u221a\u03c0 \u00bd \u2153 \u2460 \u00b5m \u2103 \u20ac5 \u00a5 \u00a3",
    "fullwidth": "\uff21\uff22\uff23\uff11\uff12\uff13\uff01\uff1f",
}
EMOJI = ["\U0001F600", "\U0001F44D", "\U0001F44D\U0001F3FD", "\U0001F469\u200D\U0001F4BB",
         "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466", "\U0001F3F3\ufe0f\u200d\U0001F308",
         "\U0001F1E9\U0001F1EA", "\U0001F1EF\U0001F1F5", "1\ufe0f\u20e3", "#\ufe0f\u20e3", "\u2764\ufe0f",
         "\U0001F9D1\U0001F3FF\u200D\U0001F91D\u200D\U0001F9D1\U0001F3FB", "\U0001FAE8", "\U0001FA77",
         "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", "\u263a", "\U0001F926\U0001F3FC\u200D\u2642\ufe0f"]
# Letters and digits added in Unicode 15.0, 15.1 and 16.0 (a pre-15 table calls them unassigned).
NEW_CHARS = {
    "u15_letters": "\U00011F04\U00011F05\U00011F06\U0001E4D0\U0001E4D1\U0001E4EB\U0001E030\U0001E031\U00031350\U00031351",
    "u15_digits": "\U0001E4F0\U0001E4F1\U0001E4F2\U00011F50\U00011F51\U00011F52",
    "u15_1_cjk": "\U0002EBF0\U0002EBF1\U0002EE5D",
    "u16_letters": "\U00010D4A\U00010D50\U00010D51\U00011BC0\U00011BC1\U00011380\U00011381\U00016D43\U00016D44\U0001E5D0\U0001E5D1\U00016100\U00016101",
    "u16_digits": "\U00010D40\U00010D41\U00010D42\U00011BF0\U00011BF1\U00016D70\U00016D71\U0001E5F1\U0001E5F2\U00016130\U00016131\U000116D0\U000116D1",
    "u16_marks": "\U00010D69\U000113B8\U000113C2\U00016D67\U0001611E\u0897",
}
SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|reserved_special_token_0|>",
           "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>", "<|fim_prefix|>",
           "<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>", "<unused0>", "<unused6241>", "<mask>",
           "<s>", "</s>", "<unk>", "<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<\uff5cUser\uff5c>", "<\uff5cAssistant\uff5c>",
           "<|EOT|>", "<|start|>", "<|channel|>", "<|message|>", "<|end|>", "<|return|>", "<|startoftext|>",
           "<|im_start", "im_end|>", "<s", "< s>", "<|endoftext|><|endoftext|>"]


def nfd(text):
    # Decompositions of characters assigned before Unicode 14 never change, so this output
    # does not depend on the Python version's Unicode data.
    return unicodedata.normalize("NFD", text)


def prose():
    words = [rng.choice(WORDS) for _ in range(rng.randint(3, 25))]
    for i in range(len(words)):
        r = rng.random()
        if r < 0.1:
            words[i] += rng.choice(CONTRACTIONS)
        elif r < 0.2:
            words[i] += rng.choice(PUNCT)
        elif r < 0.25:
            words[i] = words[i].capitalize() if rng.random() < 0.5 else words[i].upper()
    return " ".join(words) + rng.choice([".", "!", "?", "", "\n"])


CODE = [
    "def f(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
    "const tokens = text.split(/\\s+/).map((t) => t.toLowerCase());",
    "if __name__ == '__main__':\n    main()\n\n\n",
    "    \tmixed_indent = {'key': [1, 2, 3], \"other\": None}\r\n",
    "SELECT id, name FROM users WHERE age >= 18 AND name LIKE 'A%';",
    "#include <vector>\nstd::vector<int> v{1,2,3};\n",
    "x=1;y=2;z=x+y*3/4-5%6&7|8^9<<10>>11",
    "    def __init__(self, n_embd: int = 768) -> None:\n        super().__init__()\n",
    "fn main() { println!(\"{:?}\", vec![0u8; 16]); }",
    "<div class=\"a\"><span>text</span></div>\n<br/>",
    "https://example.com/path?q=1&r=two#frag user@example.org",
    "$ ls -la /usr/local/bin | grep -E '^d' > out.txt 2>&1",
    "    \n    \n\t\n",
    "{\"a\": 1, \"b\": [true, false, null], \"c\": \"\\u00e9\"}",
]


def code():
    parts = [rng.choice(CODE) for _ in range(rng.randint(1, 3))]
    return "".join(parts)


def digits():
    n = rng.randint(1, 40)
    run = "".join(rng.choice("0123456789") for _ in range(n))
    forms = [run, f"{run}.{rng.randint(0, 999)}", f"v{run}x", f" {run} ", f"{int(run):,}" if n < 20 else run,
             run + rng.choice(["%", "km", "th", "\u00b0C"]), "\u0661\u0662\u0663" + run, "\u0967\u0968" + run + "\u0969",
             "\uff11\uff12" + run, f"{run[:3]}-{run[3:6]}-{run[6:]}", "3.14159265358979323846", "1e-10 2E+5 0x1F 0b1010"]
    return rng.choice(forms)


def whitespace():
    out = ""
    for _ in range(rng.randint(1, 8)):
        out += rng.choice(SPACES) * rng.randint(1, 4)
        if rng.random() < 0.6:
            out += rng.choice(WORDS + PUNCT + ["12345", "\U0001F600"])
    return out


DECOMPOSABLE = ("\u00e9t\u00e9 caf\u00e9 r\u00e9sum\u00e9 \u00c5ngstr\u00f6m na\u00efve \u00fcber \u00f1and\u00fa \u1ebfch "
                "\u01d6 \u1e69 \u0151 \u00c7a \u00e0 \u00e8 \u00ec \u00f2 \u00f9 \u00e2 \u00ea \u00ee \u00f4 \u00fb \u1e09 \u01fa "
                "\u03ac\u03ad\u03ae \u0439 \u0451 \u1f00 \u0390").split()
HANGUL = "\ud55c\uad6d\uc5b4\ud14d\uc2a4\ud2b8\ud1a0\ud070\ud654\ud569\ub2c8\ub2e4\uac00\ud7a3\uc57c\uc6b0"


def decomposed():
    kind = rng.randrange(4)
    if kind == 0:
        return " ".join(nfd(rng.choice(DECOMPOSABLE)) for _ in range(rng.randint(1, 6)))
    if kind == 1:  # conjoining jamo: syllables written as L V (T)
        return nfd("".join(rng.choice(HANGUL) for _ in range(rng.randint(1, 8)))) + rng.choice(["", " ", "\u1100\u1161", "\u11a8"])
    if kind == 2:  # several marks on one letter, out of canonical order
        marks = ["\u0301", "\u0316", "\u0323", "\u0308", "\u0327", "\u0331", "\u05b4", "\u0e48", "\u094d", "\U0001E944"]
        return "".join(rng.choice("aeiouAEOxnc") + "".join(rng.choice(marks) for _ in range(rng.randint(1, 3)))
                       for _ in range(rng.randint(1, 5)))
    return nfd(rng.choice(list(SCRIPTS.values())))


def script_text():
    text = rng.choice(list(SCRIPTS.values()))
    start = rng.randrange(len(text))
    return text[start:start + rng.randint(1, 40)] + rng.choice(["", " ", "\n", prose()])


def emoji():
    return "".join(rng.choice(EMOJI) + rng.choice(["", "", " ", "a", "\u200d", "!"]) for _ in range(rng.randint(1, 6)))


def specials():
    parts = []
    for _ in range(rng.randint(1, 5)):
        parts.append(rng.choice(SPECIAL))
        parts.append(rng.choice(["", " ", "  ", "\n", "hi", " hello world", "\u00e9", "\t", "123"]))
    return "".join(parts)


def new_unicode():
    pool = "".join(NEW_CHARS.values())
    out = ""
    for _ in range(rng.randint(1, 6)):
        out += rng.choice(["", " ", "a", "A", "7", "!", "'s", "\n", "\u4e00", "_"])
        out += "".join(rng.choice(pool) for _ in range(rng.randint(1, 5)))
    return out


def mixed():
    makers = [prose, code, digits, whitespace, decomposed, script_text, emoji, specials, new_unicode]
    return "".join(rng.choice(makers)() for _ in range(rng.randint(2, 4)))


FAMILIES = [(prose, 300), (code, 200), (digits, 200), (whitespace, 250), (decomposed, 250),
            (script_text, 250), (emoji, 150), (specials, 200), (new_unicode, 200), (mixed, 300)]


def main():
    lines = ["", " ", "\n", "a", "'s", "'S", " 's", "123456789012345678901234567890", "\u00e9", "e\u0301", "\u1112\u1161\u11ab"]
    # Normalization across Unicode versions: marks whose combining class is newer than 9.0
    # (U+0D3B 10.0, U+0898 14.0, U+10EFD 15.0, U+0897 16.0) after an accent, and compositions
    # added in 13.0 (U+11935 U+11930) and 16.0 (U+113C2 U+113C2, U+16D67 U+16D67).
    lines += ["x\u0301\u0d3b", "x\u0301\u0898", "x\u0301\U00010efd", "x\u0301\u0897", "\U00011935\U00011930",
              "\U000113c2\U000113c2", "\U00016d67\U00016d67", "x\u0316\U0001e944", "a\u0301\u0316 e\u0323\u0302"]
    for maker, count in FAMILIES:
        lines += [maker() for _ in range(count)]
    for line in lines:
        print(json.dumps(line, ensure_ascii=True))


if __name__ == "__main__":
    main()
