"""Time one fused phyll.kernels.local_update call against torch-CPU and the NumPy reference.

Not a test: prints best-of-N times measured side by side in one process, the implementations
taking turns, one thread for each (torch.set_num_threads(1), threadpoolctl for the BLAS
libraries), and the fraction of the kernel's time that its matrix products alone take at the same
shapes. Times are CPU seconds of the whole process (time.process_time): any thread an
implementation starts still counts.

Each turn runs one implementation `burst` times in a row (fresh parameters each call, untimed)
before the next takes over. The headline is the best call after the first of a burst: the
steady state of repeated updates, as in training and as timeit measures. The first call of a
burst follows the other implementations' runs, which have evicted its data from the caches;
its best is printed too ("cold"). At the small shape that costs the kernel ~0.1 ms, which
torch's ~10 ms hide.

    python bench/bench_local_update.py [--json] [--repeat N] [--shape small|large ...]

With --json the last line is one JSON object keyed by shape:
{"small": {"cython_s": .., "torch_s": .., "numpy_s": .., "gemm_fraction": ..}, ...}
"""
import argparse
import json
import time

import numpy as np
from scipy.linalg import blas
from threadpoolctl import threadpool_info, threadpool_limits

from phyll.kernels import AdamState, _local_update, local_update, reference

SHAPES = {  # d_in = d_p + d_h, split evenly between sensor readings and layer input
    "small": dict(batch=206, d_in=40, d_out=20, n_inner=10, repeat=40, burst=8),
    "large": dict(batch=10000, d_in=676, d_out=676, n_inner=20, repeat=3, burst=1),
}
THETA, LR = 2.0, 1e-3


def make_problem(batch, d_in, d_out, seed=0):
    rng = np.random.default_rng(seed)
    d_p = d_in // 2
    inputs = [rng.standard_normal((batch, d), dtype=np.float32) for d in (d_p, d_in - d_p) * 2]
    W = (rng.standard_normal((d_out, d_in)) / np.sqrt(d_in)).astype(np.float32)
    b = np.zeros(d_out, np.float32)
    proto = rng.standard_normal(d_out).astype(np.float32)
    return inputs, W, b, proto / np.linalg.norm(proto)


def cython_runner(inputs, W, b, proto, n_inner):
    def prepare():
        W1, b1 = W.copy(), b.copy()
        return W1, b1, AdamState.zeros(W1, b1)

    def run(W1, b1, adam):
        local_update(*inputs, W1, b1, proto, adam, THETA, LR, n_inner)
        return W1
    return prepare, run


def numpy_runner(inputs, W, b, proto, n_inner):
    def prepare():
        W1, b1 = W.copy(), b.copy()
        return W1, b1, AdamState.zeros(W1, b1)

    def run(W1, b1, adam):
        reference.local_update(*inputs, W1, b1, proto, adam, THETA, LR, n_inner)
        return W1
    return prepare, run


def torch_runner(inputs, W, b, proto, n_inner):
    """The same update as a PyTorch user writes it: nn.Linear on [P, h], autograd, optim.Adam."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    p_pos, h_pos, p_neg, h_neg = map(torch.from_numpy, inputs)
    proto_t = torch.from_numpy(proto)[None]

    def prepare():
        layer = torch.nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(W))
            layer.bias.copy_(torch.from_numpy(b))
        return layer, torch.optim.Adam(layer.parameters(), lr=LR)

    def run(layer, optimizer):
        x_pos, x_neg = torch.cat([p_pos, h_pos], 1), torch.cat([p_neg, h_neg], 1)
        for _ in range(n_inner):
            g_pos = F.cosine_similarity(layer(x_pos).abs(), proto_t, dim=1)
            g_neg = F.cosine_similarity(layer(x_neg).abs(), proto_t, dim=1)
            loss = F.softplus(-THETA * (g_pos - g_neg)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return layer.weight.detach().numpy()
    return prepare, run


def gemm_runner(inputs, W, b, proto, n_inner):
    """The kernel's two products per step alone, same shapes, through the code the kernel uses.

    Small float32 layers (see uses_small_products) run small_step.h's product tiles on the
    kernel's own workspace (built once per call, as in local_update); the others run BLAS sgemm
    with the kernel's transposes.

    Column-major, the forward is Zt^T (2B x d_out) = X (2B x d_in) W^T and the weight gradient
    [dW | db]^T (d_in+1 x d_out) = [X, 1]^T (d_in+1 x 2B) dZt^T (2B x d_out).
    """
    if _local_update.uses_small_products(W.dtype, W.shape[1], W.shape[0]):
        return tuple, lambda: _local_update.small_products(*inputs, W, n_inner)
    X = np.concatenate([np.concatenate(inputs[:2], 1), np.concatenate(inputs[2:], 1)])
    X_cols = np.asfortranarray(X.T)  # (d_in x 2B), what BLAS reads X as
    X1_cols = np.asfortranarray(np.vstack([X.T, np.ones((1, X.shape[0]), np.float32)]))
    W_cols = W.T  # row-major W is column-major W^T (d_in x d_out)
    Zt = np.zeros((X.shape[0], W.shape[0]), np.float32, order="F")
    grad = np.zeros((W.shape[1] + 1, W.shape[0]), np.float32, order="F")

    def run():
        for _ in range(n_inner):
            blas.sgemm(1.0, X_cols, W_cols, 0.0, Zt, trans_a=1, overwrite_c=1)
            blas.sgemm(1.0, X1_cols, Zt, 0.0, grad, overwrite_c=1)
    return tuple, run


RUNNERS = {"cython": cython_runner, "torch": torch_runner, "numpy": numpy_runner,
           "gemm": gemm_runner}


def best_times(runners, repeat, burst):
    """Per runner, the best seconds of a call after the first of a burst (warm; of any call when
    burst is 1) and of a burst's first call (cold), over `repeat` turns in which the runners take
    turns, so that load from elsewhere hits all alike.

    prepare() (fresh parameters) is not timed. Also returns each runner's last result.
    """
    warm = dict.fromkeys(runners, float("inf"))
    cold = dict.fromkeys(runners, float("inf"))
    results = {}
    for _ in range(repeat):
        for name, (prepare, run) in runners.items():
            for call in range(burst):
                args = prepare()
                start = time.process_time()
                results[name] = run(*args)
                seconds = time.process_time() - start
                if call == 0:
                    cold[name] = min(cold[name], seconds)
                if call > 0 or burst == 1:
                    warm[name] = min(warm[name], seconds)
    return warm, cold, results


def bench_shape(name, batch, d_in, d_out, n_inner, repeat, burst):
    inputs, W, b, proto = make_problem(batch, d_in, d_out)
    runners = {}
    for runner_name, make in RUNNERS.items():
        try:
            runners[runner_name] = make(inputs, W, b, proto, n_inner)
        except ImportError as error:
            print(f"  {runner_name}: skipped ({error})")
    seconds, cold, W_after = best_times(runners, repeat, burst)
    cython_s, gemm_s = seconds["cython"], seconds["gemm"]
    path = (f"small_step.h, {_local_update.small_isa()}"
            if _local_update.uses_small_products(W.dtype, d_in, d_out) else "BLAS sgemm")
    calls = f"best of {repeat} turns x {burst} calls" if burst > 1 else f"best of {repeat}"
    print(f"{name}: batch {batch}, {d_in} -> {d_out}, {n_inner} inner steps, float32, 1 thread,"
          f" {calls}; kernel path: {path}")
    print(f"  cython {cython_s * 1e3:10.3f} ms   (its matrix products alone {gemm_s * 1e3:.3f} ms,"
          f" {gemm_s / cython_s:.0%})")
    for other in ("torch", "numpy"):
        if other in seconds:
            step = W_after[other] - W
            mismatch = np.linalg.norm(W_after["cython"] - W_after[other]) / np.linalg.norm(step)
            print(f"  {other:6s} {seconds[other] * 1e3:10.3f} ms   cython is"
                  f" {seconds[other] / cython_s:5.1f}x faster;  W update differs by {mismatch:.1e}"
                  " (relative)")
    figures = dict(cython_s=cython_s, torch_s=seconds.get("torch"), numpy_s=seconds["numpy"],
                   gemm_fraction=gemm_s / cython_s)
    if burst > 1:
        ratio = f", {cold['torch'] / cold['cython']:.1f}x torch's" if "torch" in cold else ""
        print(f"  cold (first call of a turn): cython {cold['cython'] * 1e3:.3f} ms{ratio}")
        figures["cold"] = {name: cold[name] for name in ("cython", "torch", "numpy") if name in cold}
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line of results")
    parser.add_argument("--repeat", type=int,
                        help="turns, each a burst of calls per implementation (default per shape)")
    parser.add_argument("--shape", action="append", choices=SHAPES, help="default: all")
    args = parser.parse_args()
    with threadpool_limits(limits=1):
        for lib in threadpool_info():
            print(f"BLAS {lib['prefix']} {lib['version']} {lib.get('architecture')}"
                  f" threads={lib['num_threads']}")
        results = {}
        for name in args.shape or list(SHAPES):
            shape = dict(SHAPES[name])
            shape["repeat"] = args.repeat or shape["repeat"]
            results[name] = bench_shape(name, **shape)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
