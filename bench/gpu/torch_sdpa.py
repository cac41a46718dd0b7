"""Peers of bench/gpu/attn_cuda_bench: torch.nn.functional.scaled_dot_product_attention with the
FLASH_ATTENTION and CUDNN_ATTENTION backends on the same shapes (bf16, [B, H, N, d] inputs,
batch × N = tokens), timed with CUDA events: warm-up, then the median of --repeat runs.
Prints one JSON object per line (impl, seq, causal, fwd/bwd ms and TFLOP/s)."""
import argparse
import json
import statistics
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def median_ms(fn, repeat):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def measure(backend, batch, n, heads, dim, causal, repeat):
    g = torch.Generator(device="cuda").manual_seed(n)
    shape = (batch, heads, n, dim)
    q, k, v, dout = (torch.randn(shape, device="cuda", dtype=torch.bfloat16, generator=g)
                     for _ in range(4))
    q.requires_grad_(True)
    k.requires_grad_(True)
    v.requires_grad_(True)
    with sdpa_kernel(backend):
        fwd = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal), repeat)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        bwd = median_ms(lambda: torch.autograd.grad(out, (q, k, v), dout, retain_graph=True),
                        repeat)
    return fwd, bwd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seq", type=int, nargs="+", default=[1024, 4096, 16384, 65536])
    ap.add_argument("--tokens", type=int, default=16384)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    backends = {"torch_flash": SDPBackend.FLASH_ATTENTION, "torch_cudnn": SDPBackend.CUDNN_ATTENTION}
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}", file=sys.stderr)
    for n in args.seq:
        batch = max(1, args.tokens // n)
        for causal in (False, True):
            flops = 4.0 * batch * args.heads * n * n * args.dim / (2 if causal else 1)
            for name, backend in backends.items():
                try:
                    fwd, bwd = measure(backend, batch, n, args.heads, args.dim, causal, args.repeat)
                except RuntimeError as e:  # a backend may refuse a shape
                    print(f"{name} N={n} causal={causal}: {e}", file=sys.stderr)
                    continue
                print(json.dumps({"impl": name, "seq": n, "batch": batch, "causal": causal,
                                  "fwd_ms": fwd, "fwd_tflops": flops / fwd / 1e9,
                                  "bwd_ms": bwd, "bwd_tflops": 2.5 * flops / bwd / 1e9}),
                      flush=True)


if __name__ == "__main__":
    main()
