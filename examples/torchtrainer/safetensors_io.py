"""Reading and writing safetensors files with torch alone.

The format (safetensors' documented layout): an 8-byte little-endian header
length N, N bytes of JSON mapping each tensor name to {"dtype", "shape",
"data_offsets": [begin, end)} (offsets into the data that follows; an optional
"__metadata__" maps strings to strings), then the raw little-endian data.
"""
import json
import math
import struct

import torch

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
NAMES = {dtype: name for name, dtype in DTYPES.items()}


class SafetensorsError(ValueError):
    pass


def read_safetensors(path):
    """({name: tensor}, metadata dict) of a .safetensors file; tensors keep their dtype."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise SafetensorsError(f"{path}: too short for a safetensors header")
    (header_length,) = struct.unpack("<Q", data[:8])
    if 8 + header_length > len(data):
        raise SafetensorsError(f"{path}: header length {header_length} runs past the end of the file")
    try:
        header = json.loads(data[8:8 + header_length])
    except json.JSONDecodeError as e:
        raise SafetensorsError(f"{path}: header is not JSON ({e})") from None
    base = 8 + header_length
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, info in header.items():
        tensors[name] = _tensor(path, name, info, data, base)
    return tensors, metadata


def _tensor(path, name, info, data, base):
    dtype = DTYPES.get(info.get("dtype"))
    if dtype is None:
        raise SafetensorsError(f"{path}: {name}: unsupported dtype {info.get('dtype')!r}")
    shape = list(info["shape"])
    begin, end = info["data_offsets"]
    itemsize = torch.tensor([], dtype=dtype).element_size()
    if end - begin != math.prod(shape) * itemsize or base + end > len(data):
        raise SafetensorsError(f"{path}: {name}: data_offsets {begin}..{end} do not fit shape {shape}")
    if begin == end:
        return torch.zeros(shape, dtype=dtype)
    return torch.frombuffer(bytearray(data[base + begin:base + end]), dtype=dtype).reshape(shape)


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} (contiguous copies, in name order) with string metadata."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        raw = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned, as safetensors writes it
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for raw in chunks:
            f.write(raw)
