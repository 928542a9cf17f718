"""python benchmarks/bench_lora_linear.py [--d ..] [--tokens ..] [--r ..] [--no-e2e]: fused LoRA vs PEFT.

Providers (same shapes, same bf16 weights, same run): ``peft`` (PEFT's lora.Linear), ``torch-unfused`` (three
cuBLAS matmuls chained with addmm, the Unsloth style, hand-written backward) and ``fused``
(ava_kernels.lora_linear). Modes: forward, backward, full (forward + backward), each the median of
``triton.testing.do_bench``; peak memory of one full step above the inputs; achieved TFLOP/s and the fraction
of the roofline (max of compute time at peak TFLOP/s and time to move the minimal bytes at peak bandwidth).
Then an end-to-end LoRA training step of a ~1.1B Llama-style model (random init, sequence 2048): tokens/s and
peak memory, fused vs PEFT. Rows go to benchmarks/results/lora_linear.csv with the GPU named.

Needs a CUDA GPU: on a CPU it exits with status 2 and says so (interpreter timings mean nothing).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from machine import append_csv, describe  # this script's folder is on sys.path
from torch import nn

RESULTS = Path(__file__).resolve().parent / "results" / "lora_linear.csv"
PROVIDERS = ("peft", "torch-unfused", "fused")
MODES = ("forward", "backward", "full")
# Dense bf16 tensor-core peak (TFLOP/s) and HBM bandwidth (TB/s) from the vendors' datasheets, matched on the
# device name; override with --peak-tflops/--peak-tbps for other parts or clocks.
PEAKS = {"H200": (989.0, 4.8), "H100 NVL": (835.0, 3.9), "H100 PCIe": (756.0, 2.0),
         "H100": (989.0, 3.35), "A100": (312.0, 2.0), "L40S": (362.0, 0.864), "A10": (125.0, 0.6)}


class UnfusedAddmm(torch.autograd.Function):
    """Unsloth-style LoRA linear: cuBLAS matmuls chained with addmm; rank-r products reused in backward."""

    @staticmethod
    def forward(ctx, x, weight, bias, lora_a, lora_b, scaling):
        x2 = x.reshape(-1, x.shape[-1])
        y = torch.addmm(bias, x2, weight.t()) if bias is not None else x2 @ weight.t()
        h = x2 @ lora_a.t()
        y.addmm_(h, lora_b.t(), alpha=scaling)
        ctx.save_for_backward(x2, weight, lora_a, lora_b, h)
        ctx.scaling, ctx.shape, ctx.has_bias = scaling, x.shape, bias is not None
        return y.view(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, dy):
        x2, weight, lora_a, lora_b, h = ctx.saved_tensors
        dy2 = dy.reshape(-1, weight.shape[0])
        g = dy2 @ lora_b
        dx = (dy2 @ weight).addmm_(g, lora_a, alpha=ctx.scaling)
        da = (g.t() @ x2).mul_(ctx.scaling)
        db = (dy2.t() @ h).mul_(ctx.scaling)
        dbias = dy2.sum(0) if ctx.has_bias else None
        return dx.view(ctx.shape), None, dbias, da, db, None


class _One(nn.Module):
    def __init__(self, d: int, dtype: torch.dtype, device: str):
        super().__init__()
        self.proj = nn.Linear(d, d, bias=False, dtype=dtype, device=device)

    def forward(self, x):
        return self.proj(x)


def make_providers(d: int, r: int, dtype: torch.dtype, device: str) -> dict[str, tuple[Callable, list]]:
    """provider → (f(x), trainable tensors): one LoRA linear (random non-zero A, B; scaling 2; no dropout)."""
    from peft import LoraConfig, get_peft_model

    from ava.lora import apply_fused_lora

    cfg = LoraConfig(r=r, lora_alpha=2 * r, target_modules=["proj"], init_lora_weights=False)
    peft_model = get_peft_model(_One(d, dtype, device), cfg, autocast_adapter_dtype=False)
    layer = peft_model.base_model.model.proj
    weight = layer.base_layer.weight
    lora_a, lora_b = layer.lora_A["default"].weight, layer.lora_B["default"].weight
    scaling = layer.scaling["default"]
    fused_model = copy.deepcopy(peft_model)
    report = apply_fused_lora(fused_model)
    if report.num_patched != 1:
        raise RuntimeError(f"fused provider did not patch the layer: {report.summary()}")

    def unfused(x: torch.Tensor) -> torch.Tensor:
        return UnfusedAddmm.apply(x, weight, None, lora_a, lora_b, scaling)

    def params(model: nn.Module) -> list[torch.Tensor]:
        return [p for p in model.parameters() if p.requires_grad]

    return {"peft": (peft_model, params(peft_model)), "torch-unfused": (unfused, [lora_a, lora_b]),
            "fused": (fused_model, params(fused_model))}


def flops_and_bytes(d: int, tokens: int, r: int, mode: str, elem: int = 2) -> tuple[float, float]:
    """Useful FLOPs and minimal HBM bytes of a d→d LoRA linear (W frozen) for one mode."""
    m, k, n = tokens, d, d
    fwd_f = 2 * m * k * n + 2 * m * k * r + 2 * m * r * n
    # dX = dY W, g = dY B, g A, dA = gᵀ x, dB = dYᵀ h
    bwd_f = 2 * m * n * k + 2 * m * n * r + 2 * m * r * k + 2 * m * r * k + 2 * m * n * r
    fwd_b = elem * (m * k + n * k + m * n)  # read x, W; write y
    bwd_b = elem * (m * n + n * k + m * k + m * k)  # read dY, W, x; write dX
    counts = {"forward": (fwd_f, fwd_b), "backward": (bwd_f, bwd_b), "full": (fwd_f + bwd_f, fwd_b + bwd_b)}
    return counts[mode]


def gpu_peaks(name: str, args: argparse.Namespace) -> tuple[float, float]:
    if args.peak_tflops and args.peak_tbps:
        return args.peak_tflops, args.peak_tbps
    for key, peaks in PEAKS.items():
        if key in name:
            return peaks
    raise SystemExit(f"no peak figures for GPU '{name}'; pass --peak-tflops and --peak-tbps")


def bench_linear(d: int, tokens: int, r: int, args: argparse.Namespace, meta: dict) -> list[dict]:
    from triton.testing import do_bench

    dtype, device = torch.bfloat16, "cuda"
    providers = make_providers(d, r, dtype, device)
    x = torch.randn(tokens, d, dtype=dtype, device=device, requires_grad=True)
    dy = torch.randn(tokens, d, dtype=dtype, device=device)
    peak_tflops, peak_tbps = gpu_peaks(meta["gpu"], args)
    rows = []
    for name in args.providers:
        f, params = providers[name]
        params = [x, *params]
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        f(x).backward(dy)  # one full step: its peak above the inputs
        torch.cuda.synchronize()
        peak_mib = (torch.cuda.max_memory_allocated() - base) / 2**20
        y = f(x)
        timers = {
            "forward": lambda f=f: f(x),
            "backward": lambda y=y: y.backward(dy, retain_graph=True),
            "full": lambda f=f: f(x).backward(dy),
        }
        for mode in args.modes:
            ms = do_bench(timers[mode], grad_to_none=params, return_mode="median")
            flops, nbytes = flops_and_bytes(d, tokens, r, mode)
            ideal_s = max(flops / (peak_tflops * 1e12), nbytes / (peak_tbps * 1e12))
            rows.append({"kernel": "lora_linear", "provider": name, "mode": mode, "d": d,
                         "tokens": tokens, "r": r, "dtype": "bf16", "ms": round(ms, 4),
                         "tflops": round(flops / ms / 1e9, 1),
                         "roofline_frac": round(ideal_s * 1e3 / ms, 3), "peak_mib": round(peak_mib, 1),
                         "tokens_per_s": "", **meta})
        del y
    return rows


def _train_step(model: nn.Module, opt: torch.optim.Optimizer, ids: torch.Tensor) -> None:
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def bench_e2e(args: argparse.Namespace, meta: dict) -> list[dict]:
    """One LoRA training step (fwd + bwd + AdamW) of a ~1.1B Llama-style model, PEFT vs fused."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from ava.lora import apply_fused_lora

    # TinyLlama-1.1B's shape: 22 layers, hidden 2048, MLP 5632, 32 heads, 4 KV heads, vocab 32000.
    cfg = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                      num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=args.seq)
    rows = []
    ids = torch.randint(0, cfg.vocab_size, (args.batch, args.seq), device="cuda")
    for name in ("peft", "fused"):
        torch.manual_seed(0)
        with torch.device("cuda"):
            base = LlamaForCausalLM(cfg).to(torch.bfloat16)
        lcfg = LoraConfig(r=args.e2e_r, lora_alpha=2 * args.e2e_r, lora_dropout=args.e2e_dropout,
                          target_modules="all-linear")
        model = get_peft_model(base, lcfg).train()
        if name == "fused":
            report = apply_fused_lora(model)
            print(report.summary())
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        for _ in range(3):
            _train_step(model, opt, ids)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(args.e2e_steps):
            _train_step(model, opt, ids)
        end.record()
        torch.cuda.synchronize()
        ms = start.elapsed_time(end) / args.e2e_steps
        params_b = sum(p.numel() for p in model.parameters()) / 1e9
        rows.append({"kernel": f"llama-{params_b:.2f}B-lora-step", "provider": name, "mode": "e2e",
                     "d": cfg.hidden_size, "tokens": args.batch * args.seq, "r": args.e2e_r, "dtype": "bf16",
                     "ms": round(ms, 2), "tflops": "", "roofline_frac": "",
                     "peak_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1),
                     "tokens_per_s": round(args.batch * args.seq / ms * 1e3, 1), **meta})
        del model, base, opt
        torch.cuda.empty_cache()
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"\n{'shape':>22} {'mode':>8} {'provider':>13} {'ms':>9} {'TFLOP/s':>8} {'roofline':>8} "
          f"{'peak MiB':>9} {'vs peft':>8} {'vs unfused':>10}")
    ref = {(r["d"], r["tokens"], r["r"], r["mode"], r["provider"]): r["ms"] for r in rows}
    for r in rows:
        key = (r["d"], r["tokens"], r["r"], r["mode"])
        vs_peft = ref.get((*key, "peft"), float("nan")) / r["ms"]
        vs_unfused = ref.get((*key, "torch-unfused"), float("nan")) / r["ms"]
        shape = f"d={r['d']} M={r['tokens']} r={r['r']}"
        print(f"{shape:>22} {r['mode']:>8} {r['provider']:>13} {r['ms']:>9} {r['tflops']!s:>8} "
              f"{r['roofline_frac']!s:>8} {r['peak_mib']:>9} {vs_peft:>7.2f}x {vs_unfused:>9.2f}x"
              + (f"  {r['tokens_per_s']} tok/s" if r["tokens_per_s"] != "" else ""))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, nargs="+", default=[2048, 4096, 8192], help="in = out features")
    ap.add_argument("--tokens", type=int, nargs="+", default=[2048, 8192, 32768])
    ap.add_argument("--r", type=int, nargs="+", default=[8, 16, 64])
    ap.add_argument("--providers", nargs="+", default=list(PROVIDERS), choices=PROVIDERS)
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--no-e2e", dest="e2e", action="store_false", help="skip the end-to-end training step")
    ap.add_argument("--e2e-only", action="store_true", help="only the end-to-end training step")
    ap.add_argument("--seq", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--e2e-r", type=int, default=16)
    ap.add_argument("--e2e-dropout", type=float, default=0.0)
    ap.add_argument("--e2e-steps", type=int, default=10)
    ap.add_argument("--peak-tflops", type=float, help="dense bf16 peak of this GPU (default: PEAKS table)")
    ap.add_argument("--peak-tbps", type=float, help="HBM bandwidth in TB/s (default: PEAKS table)")
    ap.add_argument("--csv", type=Path, default=RESULTS)
    return ap.parse_args(argv)


NO_GPU = ("bench_lora_linear: no CUDA GPU on this machine; these timings need one (Triton's CPU interpreter "
          "times nothing meaningful). Run it on an H100/H200; correctness is covered by "
          "tests/kernels/test_lora_linear.py.")


def run_meta() -> dict:
    """The columns naming where and when rows were measured (host, CPU, GPU, torch and triton, UTC time)."""
    return {**describe("torch", "triton"), "utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print(NO_GPU, file=sys.stderr)
        return 2
    from tqdm import tqdm

    meta = run_meta()
    rows: list[dict] = []
    if not args.e2e_only:
        shapes = [(d, m, r) for d in args.d for m in args.tokens for r in args.r]
        for d, m, r in tqdm(shapes, desc="lora_linear shapes"):
            rows += bench_linear(d, m, r, args, meta)
            torch.cuda.empty_cache()
    if args.e2e or args.e2e_only:
        rows += bench_e2e(args, meta)
    print(f"GPU: {meta['gpu']} ({meta['host']}; torch {meta['torch']}, triton {meta['triton']})")
    print_table(rows)
    append_csv(args.csv, rows)
    print(f"\nappended {len(rows)} rows to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
