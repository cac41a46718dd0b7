"""Joins the JSON lines of attn_cuda_bench and torch_sdpa.py (same run, same GPU) into one table
of TFLOP/s with longctx ÷ peer ratios. Usage: compare.py ours.jsonl peers.jsonl"""
import json
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.startswith("{")]


def main():
    ours = {(r["seq"], r["causal"]): r for r in load(sys.argv[1])}
    peers = {}
    for r in load(sys.argv[2]):
        peers[(r["impl"], r["seq"], r["causal"])] = r
    head = (f"{'N':>6} {'mask':>6} | {'ours fwd':>8} {'flash':>6} {'cudnn':>6} {'÷flash':>6} "
            f"{'÷cudnn':>6} | {'ours bwd':>8} {'flash':>6} {'cudnn':>6} {'÷flash':>6} {'÷cudnn':>6}")
    print("TFLOP/s (bf16, d=128, H=16, batch×N=16K); ratios = longctx ÷ peer")
    print(head)
    for (seq, causal), r in sorted(ours.items()):
        fl = peers.get(("torch_flash", seq, causal), {})
        cu = peers.get(("torch_cudnn", seq, causal), {})

        def ratio(a, b):
            return f"{a / b:6.2f}" if b else "     -"

        print(f"{seq:>6} {'causal' if causal else 'full':>6} | "
              f"{r['fwd_tflops']:8.1f} {fl.get('fwd_tflops', 0):6.1f} {cu.get('fwd_tflops', 0):6.1f} "
              f"{ratio(r['fwd_tflops'], fl.get('fwd_tflops'))} {ratio(r['fwd_tflops'], cu.get('fwd_tflops'))} | "
              f"{r['bwd_tflops']:8.1f} {fl.get('bwd_tflops', 0):6.1f} {cu.get('bwd_tflops', 0):6.1f} "
              f"{ratio(r['bwd_tflops'], fl.get('bwd_tflops'))} {ratio(r['bwd_tflops'], cu.get('bwd_tflops'))}")


if __name__ == "__main__":
    main()
