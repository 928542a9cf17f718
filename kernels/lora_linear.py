"""python -m ava.train (lora.fused=true, via ava.lora.apply_fused_lora): fused LoRA linear Triton kernels.

    y = x Wᵀ + s · (dropout(x) Aᵀ) Bᵀ + bias          x [M, K], W [N, K] frozen, A [r, K], B [N, r]

Forward, two launches:
  1. ``_rank_proj_kernel``: h = s/(1-p) · (x ⊙ keep) Aᵀ  [M, r], once per row block (one pass over x).
  2. ``_gemm_lowrank_kernel``: y = x Wᵀ + h Bᵀ + bias, the rank-r term and the bias added in the epilogue
     of the main GEMM, so y is written once and no [M, N] temporary exists.
Backward (g = s · dY B, the rank-r product of dY, computed once and shared):
  1. ``_rank_proj_kernel``: g = s · dY B  [M, r].
  2. ``_gemm_lowrank_kernel``: dX = dY W + (g A) ⊙ keep/(1-p), one pass over dY, the mask in the epilogue.
  3. ``_skinny_tn_kernel``: dA = gᵀ (x ⊙ keep)/(1-p), split over M into fp32 partials (deterministic).
  4. ``_skinny_tn_kernel``: dB = dYᵀ h and d(bias) = Σ_rows dY from the same dY tiles.
Nothing is computed for the frozen W (dW only if W itself requires grad, with one torch matmul).

The dropout mask is never stored: keep[m, k] = rand(seed, m·K + k) ≥ p with Triton's Philox ``tl.rand``
(10 rounds, int64 element index), regenerated in backward from the seed saved in forward.
``ava.lora.reference.dropout_keep_mask`` computes the same mask in plain torch.

Autotuning (GPU only) runs over the small config sets below; under ``TRITON_INTERPRET=1`` the kernels use
fixed large blocks (fewer interpreted programs) and cast every tile to fp32 (the interpreter has no bf16 dot).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from ava_kernels import MAX_RANK

INTERPRET: bool = bool(triton.knobs.runtime.interpret)  # fixed when this module is imported, as triton.jit is

# Config sets: the Triton matmul tutorial's fp16/bf16 set for Hopper/Ampere plus one 8-warp 128x128 tile.
# NOT tuned on a GPU here (no GPU was available to this work); autotune picks among them per shape.
_GEMM_CONFIGS = [
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 256, "BLOCK_K": 64, "GROUP_M": 8}, num_stages=3, num_warps=8),
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8}, num_stages=3, num_warps=8),
    triton.Config({"BLOCK_M": 64, "BLOCK_N": 256, "BLOCK_K": 32, "GROUP_M": 8}, num_stages=4, num_warps=4),
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 32, "GROUP_M": 8}, num_stages=4, num_warps=4),
    triton.Config({"BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8}, num_stages=4, num_warps=4),
]
# Skinny kernels are memory-bound streams over x or dY: a few row/column tile shapes, 4 warps.
_PROJ_CONFIGS = [
    triton.Config({"BLOCK_M": 64, "BLOCK_K": 128}, num_stages=3, num_warps=4),
    triton.Config({"BLOCK_M": 128, "BLOCK_K": 64}, num_stages=3, num_warps=4),
    triton.Config({"BLOCK_M": 32, "BLOCK_K": 256}, num_stages=3, num_warps=4),
]
_TN_CONFIGS = [
    triton.Config({"BLOCK_M": 64, "BLOCK_C": 128}, num_stages=3, num_warps=4),
    triton.Config({"BLOCK_M": 128, "BLOCK_C": 64}, num_stages=3, num_warps=4),
    triton.Config({"BLOCK_M": 64, "BLOCK_C": 64}, num_stages=4, num_warps=4),
]
# Interpreter: one big tile per program keeps the number of interpreted programs (the cost) small (README,
# "Fused LoRA kernels", has the timing).
_INTERP_GEMM = {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 128, "GROUP_M": 8}
_INTERP_PROJ = {"BLOCK_M": 128, "BLOCK_K": 128}
_INTERP_TN = {"BLOCK_M": 128, "BLOCK_C": 128}
_TN_ROWS_QUANTUM = 128  # rows per split are a multiple of every BLOCK_M above


@triton.jit
def _keep(seed, offsets, p):
    """Dropout keep mask for int64 element indices ``offsets`` (Philox, same as dropout_keep_mask)."""
    return tl.rand(seed, offsets) >= p


@triton.jit
def _rank_proj_kernel(
    P, U, OUT, M, RED, R, seed, p_drop, scale,
    stride_pm, stride_pk, stride_uk, stride_ur, stride_om, stride_or,
    M_BUCKET,  # autotune key only
    DROPOUT: tl.constexpr, F32_DOT: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_R: tl.constexpr,
):
    """OUT[M, R] = scale · (P ⊙ keep) U for P [M, RED], U [RED, R]; one program per BLOCK_M rows."""
    dot_ty = tl.float32 if F32_DOT else P.dtype.element_ty
    rm = (tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)).to(tl.int64)
    rr = tl.arange(0, BLOCK_R)
    acc = tl.zeros((BLOCK_M, BLOCK_R), dtype=tl.float32)
    for k0 in range(0, RED, BLOCK_K):
        rk = k0 + tl.arange(0, BLOCK_K)
        p = tl.load(P + rm[:, None] * stride_pm + rk[None, :] * stride_pk,
                    mask=(rm[:, None] < M) & (rk[None, :] < RED), other=0.0)
        if DROPOUT:
            p = tl.where(_keep(seed, rm[:, None] * RED + rk[None, :].to(tl.int64), p_drop), p, 0.0)
        u = tl.load(U + rk[:, None] * stride_uk + rr[None, :] * stride_ur,
                    mask=(rk[:, None] < RED) & (rr[None, :] < R), other=0.0)
        acc = tl.dot(p.to(dot_ty), u.to(dot_ty), acc, input_precision=PRECISION)
    tl.store(OUT + rm[:, None] * stride_om + rr[None, :] * stride_or, (acc * scale).to(OUT.dtype.element_ty),
             mask=(rm[:, None] < M) & (rr[None, :] < R))


@triton.jit
def _gemm_lowrank_kernel(
    P, Q, H, U, BIAS, OUT, M, N, RED, R, seed, p_drop, lowrank_scale,
    stride_pm, stride_pk, stride_qk, stride_qn, stride_hm, stride_hr, stride_ur, stride_un,
    stride_om, stride_on,
    M_BUCKET,  # autotune key only
    HAS_BIAS: tl.constexpr, MASK_LOWRANK: tl.constexpr, F32_DOT: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_R: tl.constexpr,
    GROUP_M: tl.constexpr,
):
    """OUT[M, N] = P Q + lowrank (+ bias), lowrank = H U, or (H U) ⊙ keep · lowrank_scale with MASK_LOWRANK.

    P [M, RED], Q [RED, N], H [M, R], U [R, N]; the keep mask indexes OUT's elements (m·N + n).
    """
    dot_ty = tl.float32 if F32_DOT else P.dtype.element_ty
    # Grouped program order: GROUP_M row blocks share the Q column tiles in L2.
    pid = tl.program_id(0)
    num_m = tl.cdiv(M, BLOCK_M)
    num_n = tl.cdiv(N, BLOCK_N)
    in_group = GROUP_M * num_n
    first_m = (pid // in_group) * GROUP_M
    group_rows = min(num_m - first_m, GROUP_M)
    pid_m = first_m + (pid % in_group) % group_rows
    pid_n = (pid % in_group) // group_rows
    rm = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)).to(tl.int64)
    rn = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)).to(tl.int64)
    # Wrapped row/column indices keep loads in bounds without masks on M and N; stores are masked.
    rm_ld = rm % M
    rn_ld = rn % N
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, RED, BLOCK_K):
        rk = k0 + tl.arange(0, BLOCK_K)
        p = tl.load(P + rm_ld[:, None] * stride_pm + rk[None, :] * stride_pk,
                    mask=rk[None, :] < RED, other=0.0)
        q = tl.load(Q + rk[:, None] * stride_qk + rn_ld[None, :] * stride_qn,
                    mask=rk[:, None] < RED, other=0.0)
        acc = tl.dot(p.to(dot_ty), q.to(dot_ty), acc, input_precision=PRECISION)
    rr = tl.arange(0, BLOCK_R)
    h = tl.load(H + rm_ld[:, None] * stride_hm + rr[None, :] * stride_hr, mask=rr[None, :] < R, other=0.0)
    u = tl.load(U + rr[:, None] * stride_ur + rn_ld[None, :] * stride_un, mask=rr[:, None] < R, other=0.0)
    low = tl.dot(h.to(dot_ty), u.to(dot_ty), input_precision=PRECISION)
    if MASK_LOWRANK:
        low = tl.where(_keep(seed, rm[:, None] * N + rn[None, :], p_drop), low * lowrank_scale, 0.0)
    acc += low
    if HAS_BIAS:
        acc += tl.load(BIAS + rn_ld).to(tl.float32)[None, :]
    tl.store(OUT + rm[:, None] * stride_om + rn[None, :] * stride_on, acc.to(OUT.dtype.element_ty),
             mask=(rm[:, None] < M) & (rn[None, :] < N))


@triton.jit
def _skinny_tn_kernel(
    T, S, OUT, COLSUM, M, C, R, rows_per_split, seed, p_drop, scale,
    stride_tm, stride_tc, stride_sm, stride_sr,
    M_BUCKET,  # autotune key only
    DROPOUT: tl.constexpr, WITH_COLSUM: tl.constexpr, F32_DOT: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_R: tl.constexpr,
):
    """OUT[split, C, R] = scale · Σ_{m in split} (T ⊙ keep)[m, c] S[m, r]; COLSUM[split, C] = Σ_m T[m, c].

    T [M, C], S [M, R]; grid (C blocks, splits of M); partials are fp32 and summed by the launcher.
    """
    dot_ty = tl.float32 if F32_DOT else T.dtype.element_ty
    rc = (tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)).to(tl.int64)
    split = tl.program_id(1)
    rr = tl.arange(0, BLOCK_R)
    m_start = split * rows_per_split
    m_end = min(m_start + rows_per_split, M)
    acc = tl.zeros((BLOCK_C, BLOCK_R), dtype=tl.float32)
    csum = tl.zeros((BLOCK_C,), dtype=tl.float32)
    for m0 in range(m_start, m_end, BLOCK_M):
        rm = (m0 + tl.arange(0, BLOCK_M)).to(tl.int64)
        # loaded transposed: [BLOCK_C, BLOCK_M]
        t = tl.load(T + rc[:, None] * stride_tc + rm[None, :] * stride_tm,
                    mask=(rc[:, None] < C) & (rm[None, :] < m_end), other=0.0)
        if WITH_COLSUM:
            csum += tl.sum(t.to(tl.float32), axis=1)
        if DROPOUT:
            t = tl.where(_keep(seed, rm[None, :] * C + rc[:, None], p_drop), t, 0.0)
        s = tl.load(S + rm[:, None] * stride_sm + rr[None, :] * stride_sr,
                    mask=(rm[:, None] < m_end) & (rr[None, :] < R), other=0.0)
        acc = tl.dot(t.to(dot_ty), s.to(dot_ty), acc, input_precision=PRECISION)
    out = OUT + split * C * R + rc[:, None] * R + rr[None, :]
    tl.store(out, acc * scale, mask=(rc[:, None] < C) & (rr[None, :] < R))
    if WITH_COLSUM:
        tl.store(COLSUM + split * C + rc, csum, mask=rc < C)


if INTERPRET:
    _rank_proj, _gemm_lowrank, _skinny_tn = _rank_proj_kernel, _gemm_lowrank_kernel, _skinny_tn_kernel
else:
    _rank_proj = triton.autotune(_PROJ_CONFIGS, key=["M_BUCKET", "RED", "R", "DROPOUT"])(_rank_proj_kernel)
    _gemm_lowrank = triton.autotune(_GEMM_CONFIGS, key=["M_BUCKET", "N", "RED", "R", "MASK_LOWRANK"])(
        _gemm_lowrank_kernel)
    _skinny_tn = triton.autotune(_TN_CONFIGS, key=["M_BUCKET", "C", "R", "DROPOUT", "WITH_COLSUM"])(
        _skinny_tn_kernel)


def _dot_args(dtype: torch.dtype) -> dict:
    # fp32 stays IEEE fp32 (as torch's default matmul); 16-bit inputs use tensor cores with fp32 accumulation.
    return {"F32_DOT": INTERPRET, "PRECISION": "ieee" if dtype == torch.float32 else "tf32"}


def _block_r(r: int) -> int:
    return max(16, triton.next_power_of_2(r))  # tl.dot needs every dimension >= 16


def rank_proj(p: torch.Tensor, u: torch.Tensor, scale: float, seed: int = 0,
              dropout_p: float = 0.0) -> torch.Tensor:
    """scale · (p ⊙ keep) @ u for p [M, RED], u [RED, r] (any strides) → [M, r] in p's dtype."""
    m, red = p.shape
    r = u.shape[1]
    out = torch.empty(m, r, dtype=p.dtype, device=p.device)
    if out.numel() == 0:
        return out
    args = (p, u, out, m, red, r, seed, dropout_p, scale, p.stride(0), p.stride(1), u.stride(0), u.stride(1),
            out.stride(0), out.stride(1), triton.next_power_of_2(m))
    meta = {"DROPOUT": dropout_p > 0, "BLOCK_R": _block_r(r), **_dot_args(p.dtype)}
    if INTERPRET:
        _rank_proj[(triton.cdiv(m, _INTERP_PROJ["BLOCK_M"]),)](*args, **meta, **_INTERP_PROJ)
    else:
        _rank_proj[lambda c: (triton.cdiv(m, c["BLOCK_M"]),)](*args, **meta)
    return out


def gemm_lowrank(p: torch.Tensor, q: torch.Tensor, h: torch.Tensor, u: torch.Tensor,
                 bias: torch.Tensor | None, seed: int = 0, dropout_p: float = 0.0,
                 lowrank_scale: float = 1.0) -> torch.Tensor:
    """p @ q + h @ u (+ bias) for p [M, RED], q [RED, N], h [M, r], u [r, N]; with dropout_p > 0 the
    low-rank term is masked by keep[m, n] (m·N + n) and multiplied by lowrank_scale. Output in p's dtype."""
    m, red = p.shape
    n = q.shape[1]
    r = h.shape[1]
    out = torch.empty(m, n, dtype=p.dtype, device=p.device)
    if out.numel() == 0:
        return out
    args = (p, q, h, u, bias if bias is not None else out, out, m, n, red, r, seed, dropout_p, lowrank_scale,
            *p.stride(), *q.stride(), *h.stride(), *u.stride(), *out.stride(), triton.next_power_of_2(m))
    meta = {"HAS_BIAS": bias is not None, "MASK_LOWRANK": dropout_p > 0, "BLOCK_R": _block_r(r),
            **_dot_args(p.dtype)}
    if INTERPRET:
        grid = (triton.cdiv(m, _INTERP_GEMM["BLOCK_M"]) * triton.cdiv(n, _INTERP_GEMM["BLOCK_N"]),)
        _gemm_lowrank[grid](*args, **meta, **_INTERP_GEMM)
    else:
        _gemm_lowrank[lambda c: (triton.cdiv(m, c["BLOCK_M"]) * triton.cdiv(n, c["BLOCK_N"]),)](*args, **meta)
    return out


def _num_splits(m: int, c: int, device: torch.device) -> int:
    """Splits of M for the skinny reductions: programs to fill the GPU ~4 times over (1 when interpreting)."""
    if INTERPRET:
        return 1
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    col_blocks = triton.cdiv(c, 128)
    return max(1, min(triton.cdiv(m, _TN_ROWS_QUANTUM), triton.cdiv(4 * sms, col_blocks)))


def skinny_tn(t: torch.Tensor, s: torch.Tensor, scale: float, seed: int = 0, dropout_p: float = 0.0,
              with_colsum: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(scale · (t ⊙ keep)ᵀ @ s [C, r] fp32, Σ_rows t [C] fp32 or None) for t [M, C], s [M, r]."""
    m, c = t.shape
    r = s.shape[1]
    if m == 0 or c == 0:  # empty batch: zero gradients
        zeros = torch.zeros(c, r, dtype=torch.float32, device=t.device)
        return zeros, (zeros[:, 0].clone() if with_colsum else None)
    splits = _num_splits(m, c, t.device)
    rows_per_split = triton.cdiv(triton.cdiv(m, splits), _TN_ROWS_QUANTUM) * _TN_ROWS_QUANTUM
    splits = triton.cdiv(m, rows_per_split)
    out = torch.empty(splits, c, r, dtype=torch.float32, device=t.device)
    colsum = torch.empty(splits, c, dtype=torch.float32, device=t.device) if with_colsum else out
    args = (t, s, out, colsum, m, c, r, rows_per_split, seed, dropout_p, scale,
            t.stride(0), t.stride(1), s.stride(0), s.stride(1), triton.next_power_of_2(m))
    meta = {"DROPOUT": dropout_p > 0, "WITH_COLSUM": with_colsum, "BLOCK_R": _block_r(r),
            **_dot_args(t.dtype)}
    if INTERPRET:
        _skinny_tn[(triton.cdiv(c, _INTERP_TN["BLOCK_C"]), splits)](*args, **meta, **_INTERP_TN)
    else:
        _skinny_tn[lambda cfg: (triton.cdiv(c, cfg["BLOCK_C"]), splits)](*args, **meta)
    return out.sum(0), (colsum.sum(0) if with_colsum else None)


def _check(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, lora_a: torch.Tensor,
           lora_b: torch.Tensor, dropout_p: float) -> None:
    if x.dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise TypeError(f"fused LoRA linear supports fp16/bf16/fp32 inputs, got {x.dtype}")
    if weight.dtype != x.dtype:
        raise TypeError(f"input is {x.dtype} but the base weight is {weight.dtype}; cast one to the other")
    n, k = weight.shape
    r = lora_a.shape[0]
    if x.shape[-1] != k or lora_a.shape != (r, k) or lora_b.shape != (n, r):
        raise ValueError(f"shape mismatch: x {tuple(x.shape)}, W {tuple(weight.shape)}, "
                         f"A {tuple(lora_a.shape)}, B {tuple(lora_b.shape)}; "
                         "expected x [..., K], W [N, K], A [r, K], B [N, r]")
    if bias is not None and bias.shape != (n,):
        raise ValueError(f"bias has shape {tuple(bias.shape)}, expected ({n},)")
    if not 0 < r <= MAX_RANK:
        raise ValueError(f"LoRA rank r={r} is outside 1..{MAX_RANK} supported by the fused kernel; "
                         "use the unfused PEFT path (lora.fused=false)")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout probability {dropout_p} must be in [0, 1)")


class LoraLinearFunction(torch.autograd.Function):
    """y = x Wᵀ + s · (dropout(x) Aᵀ) Bᵀ + bias, fused; grads for x, bias, A, B (and W if it needs one)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, lora_a: torch.Tensor,
                lora_b: torch.Tensor, scaling: float, dropout_p: float, seed: int) -> torch.Tensor:
        _check(x, weight, bias, lora_a, lora_b, dropout_p)
        lead, k = x.shape[:-1], x.shape[-1]
        x2 = x.reshape(-1, k)
        keep_scale = 1.0 / (1.0 - dropout_p)
        h = rank_proj(x2, lora_a.t(), scaling * keep_scale, seed, dropout_p)  # s/(1-p) · (x ⊙ keep) Aᵀ
        y = gemm_lowrank(x2, weight.t(), h, lora_b.t(), bias)
        ctx.save_for_backward(x2, weight, lora_a, lora_b, h)
        ctx.scaling, ctx.dropout_p, ctx.seed, ctx.x_shape = scaling, dropout_p, seed, x.shape
        ctx.bias_dtype = bias.dtype if bias is not None else None
        return y.view(*lead, weight.shape[0])

    @staticmethod
    def backward(ctx, dy: torch.Tensor):
        x2, weight, lora_a, lora_b, h = ctx.saved_tensors
        p, seed = ctx.dropout_p, ctx.seed
        keep_scale = 1.0 / (1.0 - p)
        dy2 = dy.reshape(-1, weight.shape[0])
        if dy2.dtype != x2.dtype:
            dy2 = dy2.to(x2.dtype)
        need_x, need_w, need_bias, need_a, need_b = ctx.needs_input_grad[:5]
        dx = dw = dbias = da = db = None
        if need_x or need_a:
            g = rank_proj(dy2, lora_b, ctx.scaling)  # s · dY B, shared by dX and dA
            if need_x:
                dx = gemm_lowrank(dy2, weight, g, lora_a, None, seed, p, keep_scale).view(ctx.x_shape)
            if need_a:
                da_t, _ = skinny_tn(x2, g, keep_scale, seed, p)  # [K, r]
                da = da_t.t().to(lora_a.dtype)
        if need_b or need_bias:
            db_full, colsum = skinny_tn(dy2, h, 1.0, with_colsum=need_bias)  # dYᵀ h [N, r], Σ_rows dY
            db = db_full.to(lora_b.dtype) if need_b else None
            dbias = colsum.to(ctx.bias_dtype) if need_bias else None
        if need_w:  # W is frozen under LoRA; only a caller that trains W pays for this
            dw = (dy2.t() @ x2).to(weight.dtype)
        return dx, dw, dbias, da, db, None, None, None


def lora_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, lora_a: torch.Tensor,
                lora_b: torch.Tensor, scaling: float, dropout_p: float = 0.0, seed: int = 0) -> torch.Tensor:
    """Fused ``x Wᵀ + s · (dropout(x) Aᵀ) Bᵀ + bias`` (dropout_p = 0 disables the mask; seed picks it)."""
    return LoraLinearFunction.apply(x, weight, bias, lora_a, lora_b, float(scaling), float(dropout_p),
                                    int(seed))
