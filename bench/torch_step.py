"""PyTorch side of nasc's benchmarks: time the reference supernet
(tests/reference/supernet.py) on the CPU in float32, training mode.

Two measurements, each the median and minimum wall-clock time of --iters
iterations after --warmup untimed ones:

  fwd_bwd  forward + mean cross-entropy + backward into every weight and
           both alphas (grads set to None before each iteration);
  step     one first-order DARTS search step: Adam on the alphas from a
           validation batch, then SGD (momentum, weight decay, gradient
           norm clipped to 5) on the weights from a training batch.

FLOP convention ("3x forward conv+linear"): the forward pass is counted as
2 * (Conv2d + Linear multiply-adds) * batch, taken from the real output
shapes by supernet.conv_linear_flops (forward hooks); forward + backward
counts as 3x that, and a search step, which does two of them, as 6x.
Batch-norm, pooling, the mixture sums and the optimisers are not counted.
GFLOP/s use the median time.

    /usr/bin/python3 bench/torch_step.py --space darts --C 8 --layers 5 \\
        --input 1x28x28 --batch 32 --threads 2 --json

Exits with status 77 (skip) when PyTorch cannot be imported.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

# the running script: torch_curvature.py imports the helpers here
PROG = os.path.basename(sys.argv[0]) or "torch_step.py"
SKIP = 77
HERE = os.path.dirname(os.path.realpath(__file__))
REFERENCE = os.path.normpath(os.path.join(HERE, "..", "tests", "reference"))

FLOP_CONVENTION = "3x forward conv+linear"
FWD_BWD_FACTOR = 3      # forward + backward = 3x the forward
STEP_FACTOR = 6         # a first-order step = two forward + backward passes

# DARTS (Liu et al., first order) search hyper-parameters
ARCH_LR, ARCH_BETAS, ARCH_WD = 3e-4, (0.5, 0.999), 1e-3
W_LR, W_MOMENTUM, W_WD, W_CLIP = 0.025, 0.9, 3e-4, 5.0


def fail(msg, status=1):
    print("%s: %s" % (PROG, msg), file=sys.stderr)
    sys.exit(status)


def add_network_args(ap):
    """The options of the network, the batch, the threads and the timing."""
    ap.add_argument("--space", default="darts",
                    help="search space from tests/reference/supernet.py (not s4)")
    ap.add_argument("--C", type=int, default=16, help="initial channels")
    ap.add_argument("--layers", type=int, default=8, help="cells")
    ap.add_argument("--nodes", type=int, default=4, help="intermediate nodes per cell")
    ap.add_argument("--input", default="3x32x32", help="CxHxW of one sample")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2,
                    help="intra-op and inter-op threads")
    ap.add_argument("--warmup", type=int, default=2, help="untimed iterations")
    ap.add_argument("--iters", type=int, default=10, help="timed iterations")
    ap.add_argument("--seed", type=int, default=0)


def check_network_args(args):
    """Refuse bad values of add_network_args's options (exit 2); sets
    args.shape from --input."""
    for k in ("C", "layers", "nodes", "classes", "batch", "threads", "iters"):
        if getattr(args, k) <= 0:
            fail("--%s %d: must be positive" % (k, getattr(args, k)), 2)
    if args.warmup < 0:
        fail("--warmup %d: must not be negative" % args.warmup, 2)
    dims = args.input.split("x")
    if len(dims) != 3 or not all(d.isdigit() and int(d) > 0 for d in dims):
        fail("--input %s: not CxHxW (e.g. 1x28x28)" % args.input, 2)
    args.shape = [int(d) for d in dims]


def parse_args():
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Time nasc's PyTorch reference supernet: forward+backward and "
                    "one first-order DARTS search step (float32, training mode).")
    add_network_args(ap)
    ap.add_argument("--only", choices=("fwd_bwd", "step"),
                    help="run only this measurement (default: both)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    check_network_args(args)
    return args


def import_torch(threads):
    try:
        import torch
    except Exception as e:  # ImportError, or a broken shared library
        print("%s: skipped: cannot import torch (%s)"
              % (PROG, str(e).splitlines()[0] if str(e) else type(e).__name__),
              file=sys.stderr)
        sys.exit(SKIP)
    # once, before any parallel work (set_num_interop_threads may not be repeated)
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)
    return torch


def timed(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    return {"median": statistics.median(ms), "min": min(ms)}


def gflops(flops, ms):
    return flops / (ms * 1e-3) / 1e9


def build_network(torch, args):
    """The supernet module and the float32 network of args, in training mode
    with every parameter requiring a gradient, and its forward conv+linear
    FLOPs per sample; exits 2 on a configuration that cannot run."""
    sys.path.insert(0, REFERENCE)
    try:
        import supernet as sn
    except ImportError as e:
        fail("cannot import supernet from %s: %s" % (REFERENCE, e))

    spaces = [s for s in sn.SPACES if s != "s4"]   # s4 draws noise
    if args.space not in spaces:
        fail("--space %s: one of %s" % (args.space, ", ".join(spaces)), 2)

    torch.manual_seed(args.seed)
    try:
        net = sn.Network(args.C, args.layers, args.nodes, args.shape[0],
                         args.classes, args.space).float()
    except ValueError as e:
        fail("%s: %s" % (args.space, e), 2)
    try:
        # per sample, 2 per multiply-add; leaves the net in eval mode
        fwd_flops_sample = sn.conv_linear_flops(net, args.shape)
    except RuntimeError as e:
        fail("the network does not run on input %s: %s"
             % (args.input, str(e).splitlines()[0]), 2)
    net.train()   # batch-norm with batch statistics from here on
    for p in net.parameters():
        p.requires_grad_(True)
    return sn, net, fwd_flops_sample


def draw_batches(torch, args):
    """A training and a validation batch, (x, y) each: x from N(0, 1),
    uniform labels."""
    return [(torch.randn(args.batch, *args.shape, dtype=torch.float32),
             torch.randint(args.classes, (args.batch,))) for _ in range(2)]


def run_record(torch, args, **config):
    """The first keys of a JSON result: implementation, threads, and the
    configuration (extended by config)."""
    c = {
        "space": args.space, "C": args.C, "layers": args.layers,
        "nodes": args.nodes, "input": args.input, "classes": args.classes,
        "batch": args.batch, "warmup": args.warmup, "iters": args.iters,
        "seed": args.seed, "only": args.only, "dtype": "float32",
        "mode": "train",
    }
    c.update(config)
    return {"impl": "pytorch", "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(), "config": c}


def print_run(out):
    """The first line of the table: run_record's keys."""
    c = out["config"]
    print("pytorch %s, %d threads: %s C=%d layers=%d nodes=%d input=%s classes=%d batch=%d"
          % (out["torch"], out["threads"], c["space"], c["C"], c["layers"], c["nodes"],
             c["input"], c["classes"], c["batch"]))


def main():
    args = parse_args()
    torch = import_torch(args.threads)
    import torch.nn.functional as F
    sn, net, fwd_flops_sample = build_network(torch, args)
    weights = net.weight_parameters()
    alphas = net.arch_parameters()

    fwd_flops = fwd_flops_sample * args.batch
    fwd_bwd_flops = FWD_BWD_FACTOR * fwd_flops
    step_flops = STEP_FACTOR * fwd_flops

    # two distinct random batches, drawn once
    (x_train, y_train), (x_val, y_val) = draw_batches(torch, args)

    def fwd_bwd():
        net.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x_train), y_train)
        loss.backward()

    arch_opt = torch.optim.Adam(alphas, lr=ARCH_LR, betas=ARCH_BETAS,
                                weight_decay=ARCH_WD)
    w_opt = torch.optim.SGD(weights, lr=W_LR, momentum=W_MOMENTUM,
                            weight_decay=W_WD)

    def step():
        # (a) architecture step on the validation batch (first order)
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(x_val), y_val).backward()
        arch_opt.step()
        # (b) weight step on the training batch
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(x_train), y_train).backward()
        torch.nn.utils.clip_grad_norm_(weights, W_CLIP)
        w_opt.step()

    fwd_bwd_ms = step_ms = None
    if args.only in (None, "fwd_bwd"):
        fwd_bwd_ms = timed(fwd_bwd, args.warmup, args.iters)
    if args.only in (None, "step"):
        step_ms = timed(step, args.warmup, args.iters)

    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    out = run_record(torch, args)
    out.update({
        "flop_convention": FLOP_CONVENTION,
        "forward_flops_per_sample": fwd_flops_sample,
        "fwd_bwd_flops": fwd_bwd_flops,
        "step_flops": step_flops,
        "fwd_bwd_ms": fwd_bwd_ms,
        "step_ms": step_ms,
        "fwd_bwd_gflops": gflops(fwd_bwd_flops, fwd_bwd_ms["median"]) if fwd_bwd_ms else None,
        "step_gflops": gflops(step_flops, step_ms["median"]) if step_ms else None,
        "peak_rss_mib": rss_mib,
        "weight_params": sn.weight_param_count(net),
        "alpha_size": sn.alpha_size(net),
    })
    if args.json:
        print(json.dumps(out))
        return

    print_run(out)
    print("%d weight parameters, %d alphas; forward conv+linear %.2f MFLOP/sample, "
          "fwd+bwd counted as 3x, step as 6x" % (out["weight_params"], out["alpha_size"],
                                                   fwd_flops_sample / 1e6))
    print("%-8s %11s %11s %9s" % ("", "median ms", "min ms", "GFLOP/s"))
    for name in ("fwd_bwd", "step"):
        t = out[name + "_ms"]
        if t is not None:
            print("%-8s %11.2f %11.2f %9.2f"
                  % (name, t["median"], t["min"], out[name + "_gflops"]))
    print("peak RSS %.1f MiB (%d warmup + %d timed iterations)"
          % (rss_mib, args.warmup, args.iters))


if __name__ == "__main__":
    main()
