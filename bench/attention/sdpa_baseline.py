"""PyTorch's scaled_dot_product_attention (flash backend, causal, bf16) at the shapes of
bench_attention: 8 heads of 128 (the 2 KV groups repeated to 8 heads, since the flash
backend runs plain multi-head attention), batch x seq = 4 x 2048 and 2 x 4096. FLOPs counted
as in bench_attention: 4 * d per allowed pair and head forward, 2.5x that backward."""
import sys

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
import torch.nn.functional as F

WARMUP, REPS = 5, 30


def median_ms(fn):
    for _ in range(WARMUP):
        fn()
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
          for _ in range(REPS)]
    for s, e in ev:
        s.record()
        fn()
        e.record()
    torch.cuda.synchronize()
    return sorted(s.elapsed_time(e) for s, e in ev)[REPS // 2]


def main():
    nh, d = 8, 128
    print(f"sdpa_baseline: torch {torch.__version__} on {torch.cuda.get_device_name()}, "
          f"flash backend, causal, bf16, nh={nh} d={d}, median of {REPS}")
    for B, T in ((4, 2048), (2, 4096)):
        q, k, v, g = (torch.randn(B, nh, T, d, device="cuda", dtype=torch.bfloat16)
                      for _ in range(4))
        for t in (q, k, v):
            t.requires_grad_(True)
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            fwd = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
            bwd = median_ms(lambda: torch.autograd.grad(out, (q, k, v), g, retain_graph=True))
        flop = 4.0 * B * nh * d * T * (T + 1) / 2
        print(f"{'sdpa flash (causal)':<28} B={B} T={T}  fwd {fwd:7.3f} ms {flop / fwd / 1e9:6.1f} "
              f"TFLOP/s  bwd {bwd:7.3f} ms {2.5 * flop / bwd / 1e9:6.1f} TFLOP/s  fwd+bwd "
              f"{3.5 * flop / (fwd + bwd) / 1e9:6.1f} TFLOP/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
