"""Weight-only int8 Linear layers for the chat model (the ``int8w`` precision).

Imported only when a model loads: it imports torch, which ``search`` and
``--strategy extractive`` never need.
"""

from __future__ import annotations

import torch

# Up to this many rows (tokens) a Linear runs torch's int8 kernel (decoding: one row); more
# rows (prefill) run a GEMM in the activations' dtype on the weight dequantized for the
# call. Measured on Gemma with a 1,000-token prompt: the int8 kernel alone took 1.54 s to
# the first token against 0.93 s in bf16.
INT8_KERNEL_MAX_ROWS = 16


def activation_dtype() -> torch.dtype:
    """The dtype the int8w model computes in: bf16 where the CPU multiplies it natively,
    else fp32. torch emulates bf16 elsewhere: on an AVX2-only EPYC (2 threads) a 348-token
    prompt took 10.3 s to the first token in bf16 against 2.5 s in fp32, with the same 40
    greedy tokens (the int8 decode kernel still reads bf16 there: 0.25 ms against 1.15 ms
    with fp32 rows, for a 640 x 2,048 layer)."""
    from index.cpu import native_bf16

    return torch.bfloat16 if native_bf16() else torch.float32


class Int8WeightLinear(torch.nn.Module):
    """A Linear whose weight is int8 per output channel, its activations bf16 or fp32
    (``activation_dtype``); the scales stay bf16, the int8 kernel's dtype.

    ``Int8WeightLinear(in, out, bias)`` is empty (buffers to load a saved state into:
    ``generators.prepared``); ``from_linear`` quantizes a trained Linear.
    """

    # Buffers (register_buffer), declared for the type checker.
    weight: torch.Tensor
    scales: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, in_features: int, out_features: int, bias: bool) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight", torch.empty(out_features, in_features, dtype=torch.int8))
        self.register_buffer("scales", torch.empty(out_features, dtype=torch.bfloat16))
        self.register_buffer(
            "bias", torch.empty(out_features, dtype=torch.bfloat16) if bias else None
        )

    @classmethod
    def from_linear(cls, linear: torch.nn.Linear) -> Int8WeightLinear:
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None)
        weight = linear.weight.detach().float()
        scales = (weight.abs().amax(dim=1) / 127.0).clamp(min=1e-8)  # (out,)
        layer.weight = torch.round(weight / scales[:, None]).clamp(-128, 127).to(torch.int8)
        layer.scales = scales.to(torch.bfloat16)
        if linear.bias is not None:
            layer.bias = linear.bias.detach().to(torch.bfloat16)
        return layer

    def forward(self, x):
        dtype = x.dtype if x.dtype in (torch.float32, torch.bfloat16) else torch.bfloat16
        flat = x.reshape(-1, self.in_features).to(dtype).contiguous()
        bias = None if self.bias is None else self.bias.to(dtype)
        if flat.shape[0] <= INT8_KERNEL_MAX_ROWS:
            # bf16 rows even in an fp32 model: the kernel's fast path on every CPU.
            out = torch._weight_int8pack_mm(flat.to(torch.bfloat16), self.weight, self.scales)
            out = out.to(dtype)
            if bias is not None:
                out = out + bias
        elif dtype == torch.float32:  # prefill in fp32: the GEMM on the int8 values,
            # then the scales on its output, which is smaller than the weight while a
            # prompt has fewer tokens than the layer has inputs (one pass less over it).
            out = torch.nn.functional.linear(flat, self.weight.to(dtype)) * self.scales.float()
            if bias is not None:
                out = out + bias
        else:  # prefill in bf16: the GEMM on the dequantized weight is faster
            weight = self.weight.to(dtype) * self.scales.to(dtype)[:, None]
            out = torch.nn.functional.linear(flat, weight, bias)
        return out.reshape(*x.shape[:-1], self.out_features)


class Int8TiedEmbedding(torch.nn.Module):
    """The input embedding read from the int8 output head it was tied to: one int8 copy
    of the vocabulary matrix serves both ends. Gemma's is 262,144 x 640: its bf16 input
    copy alone held 320 MB of a 1.5 GB process (``eval.bench.memory``).

    A row is dequantized on lookup (its int8 values times its scale), then multiplied by
    the embedding's own factor (Gemma scales by sqrt(hidden size); 1 for others).
    """

    # Declared for the type checker: ``head`` lives in __dict__, ``embed_scale`` is a buffer.
    head: Int8WeightLinear
    embed_scale: torch.Tensor

    def __init__(self, head: Int8WeightLinear, scale: float) -> None:
        super().__init__()
        # Not a submodule: the head's buffers are saved once, under lm_head.
        self.__dict__["head"] = head
        self.num_embeddings, self.embedding_dim = head.out_features, head.in_features
        self.register_buffer("embed_scale", torch.tensor(float(scale)), persistent=False)
        self.dtype = torch.bfloat16  # the model's activations (``compute_in``)

    def forward(self, input_ids):
        rows = self.head.weight[input_ids].to(self.dtype)
        rows = rows * self.head.scales[input_ids].to(self.dtype).unsqueeze(-1)
        return rows * self.embed_scale.to(self.dtype)


def _tie_input_embedding(model, tied: bool, scale: float) -> None:
    if tied:
        model.set_input_embeddings(Int8TiedEmbedding(model.get_output_embeddings(), scale))


def _tied(model) -> tuple[bool, float]:
    """Whether the input embedding shares the output head's weight, and its factor."""
    embedding, head = model.get_input_embeddings(), model.get_output_embeddings()
    if not isinstance(embedding, torch.nn.Embedding) or not isinstance(head, torch.nn.Linear):
        return False, 1.0
    tied = embedding.weight.data_ptr() == head.weight.data_ptr()
    return tied, float(getattr(embedding, "scalar_embed_scale", 1.0))


def _replace_linears(model, make) -> None:
    linears = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
    ]
    for name, module in linears:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, make(module))


def quantize_int8_weights(model):
    """Weight-only int8 for every nn.Linear, lm_head included: weights int8 per output
    channel, activations stay bf16, so no activation outliers are rounded.

    Hand-written because the one library that offers it, torchao (0.18,
    ``Int8WeightOnlyConfig``), ran Gemma's lm_head (640 x 262,144) in 170 ms per token here,
    against 18 ms in plain bf16; torch's own kernel ``_weight_int8pack_mm`` (the one
    gpt-fast uses on CPU) runs it in 7 ms. Tied weights: the input embedding is read
    from lm_head's int8 copy (``Int8TiedEmbedding``).
    """
    tied, scale = _tied(model) if hasattr(model, "get_input_embeddings") else (False, 1.0)
    _replace_linears(model, Int8WeightLinear.from_linear)
    _tie_input_embedding(model, tied, scale)
    return model


def int8_skeleton(model, tied: bool):
    """``model`` with every nn.Linear replaced by an empty Int8WeightLinear of its shape:
    what a state saved from ``quantize_int8_weights`` loads into, with no quantizing.
    ``tied``: the saved model read its input embedding from lm_head (a model built from
    its config is not tied yet, so the caller says)."""
    scale = float(getattr(model.get_input_embeddings(), "scalar_embed_scale", 1.0))
    _replace_linears(
        model,
        lambda linear: Int8WeightLinear(
            linear.in_features, linear.out_features, linear.bias is not None
        ),
    )
    _tie_input_embedding(model, tied, scale)
    return model


def compute_in(model, dtype: torch.dtype):
    """``model`` (int8w) computing in ``dtype``: every floating parameter and every buffer
    that was bf16 as loaded cast, but the int8 layers' scales and biases (bf16, cast per
    call where needed). Casting bf16 up to fp32 is exact, so a model saved in bf16
    (``generators.prepared``) loads either way, and back to bf16 is the model as loaded
    (``eval.bench.activations`` switches both ways)."""
    int8_tensors = {
        id(tensor)
        for module in model.modules()
        if isinstance(module, Int8WeightLinear)
        for tensor in module.buffers(recurse=False)
    }
    for module in model.modules():
        if isinstance(module, Int8TiedEmbedding):
            module.dtype = dtype
        for param in module.parameters(recurse=False):
            if param.is_floating_point() and param.dtype != dtype:
                param.data = param.data.to(dtype)
        # Which buffers were bf16 as loaded, kept on the module across calls.
        loaded = module.__dict__.setdefault(
            "_bf16_buffers",
            {n for n, b in module.named_buffers(recurse=False) if b.dtype == torch.bfloat16},
        )
        for name, buffer in list(module.named_buffers(recurse=False)):
            if name in loaded and buffer.dtype != dtype and id(buffer) not in int8_tensors:
                setattr(module, name, buffer.to(dtype))
    return model
