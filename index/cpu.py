"""What this CPU multiplies natively, for the precisions the models run in.

bf16 is fast only where the CPU has bf16 instructions (AVX512-BF16 or AMX): elsewhere
torch emulates it, and a bf16 GEMM ran ~300x slower than fp32 on an AVX2-only EPYC
(0.3 against 108 GFLOP/s at 2048², 2 threads).
"""

from __future__ import annotations

import functools


@functools.cache
def native_bf16() -> bool:
    """Whether torch's CPU kernels multiply bf16 natively here (torch.cpu's probes are
    private, hence getattr)."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def float_precision() -> str:
    """The float precision models here run fastest in: "bf16" where it is native, else
    "fp32"."""
    return "bf16" if native_bf16() else "fp32"
