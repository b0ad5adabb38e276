"""PyTorch side of nasc's curvature benchmarks: time, on the reference
supernet (tests/reference/supernet.py), the CPU in float32, training mode,
the two jobs that nasc's Hessian-vector products are for.

  hessian_rows  the architecture Hessian of the validation loss the way
                RobustDARTS's reference computes it: forward, loss and the
                alpha gradient with create_graph once ("grad" below), then
                one autograd.grad of each gradient entry with respect to the
                alphas ("rows", one per alpha entry); then symmetrize, add
                the arch weight decay wd * I and take the eigenvalues
                (torch.linalg.eigvalsh in float64; "eig").  Timed once,
                after --warmup untimed forward-and-gradient passes.  With
                --rows R only the first R rows are computed, and
                hessian_total_s_extrapolated = grad + rows * n / R stands
                for the whole (no eigenvalues then);
  second_order_step_fd_ms
                one second-order DARTS search step as DARTS computes it:
                the virtual step w' = w - xi (mu m + grad_w L_train + lambda w)
                (xi = the weights' lr, m the SGD momentum buffer), the
                gradients of L_val at w', the mixed product by central
                differences of grad_alpha L_train at w +- r v (v =
                grad_w' L_val, r = 0.01 / |v|), Adam on the alphas; then the
                SGD step on the weights (momentum 0.9, weight decay 3e-4,
                gradient norm clipped to 5).  The weights are swapped in
                place rather than copied into a second network;
  second_order_step_exact_ms
                the same step with the exact second-order alpha gradient,
                autograd through the virtual step (create_graph through
                grad_w L_train), for information.
Step times are the median and minimum of --iters iterations after --warmup
untimed ones.  Peak RSS is the process's, over everything it ran.

Defaults: the darts space with C=8, 5 layers, 1x28x28 inputs, batch 32,
DARTS's initialisation (PyTorch's default weights, alphas 1e-3 N(0, 1)), so
n = 224 Hessian rows.

    /usr/bin/python3 bench/torch_curvature.py --threads 2 --json
    /usr/bin/python3 bench/torch_curvature.py --rows 4 --iters 2 --warmup 1

Exits with status 77 (skip) when PyTorch cannot be imported.
"""
import argparse
import json
import resource
import statistics
import time

from torch_step import (ARCH_BETAS, ARCH_LR, ARCH_WD, PROG, W_CLIP, W_LR, W_MOMENTUM, W_WD,
                        add_network_args, build_network, check_network_args, draw_batches,
                        fail, import_torch, print_run, run_record, timed)

FD_R = 0.01             # DARTS's r = FD_R / |v|
MEASUREMENTS = ("hessian", "step_fd", "step_exact")
# every key of the Hessian's measurement, null where it was not taken
NO_HESSIAN = dict.fromkeys((
    "hessian_grad_s", "hessian_rows_s", "hessian_row_s", "hessian_rows_timed",
    "hessian_eig_s", "hessian_total_s", "hessian_total_s_extrapolated",
    "hessian_lambda_max"))


def parse_args():
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Time the architecture Hessian (RobustDARTS's row-by-row autograd) "
                    "and second-order DARTS search steps (finite-difference and exact) "
                    "on nasc's PyTorch reference supernet (float32, training mode).")
    add_network_args(ap)
    ap.set_defaults(C=8, layers=5, input="1x28x28", batch=32)
    ap.add_argument("--rows", type=int,
                    help="time only the first ROWS Hessian rows and extrapolate "
                         "(default: all of them)")
    ap.add_argument("--only", choices=MEASUREMENTS,
                    help="run only this measurement (default: all)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    check_network_args(args)
    if args.rows is not None and args.rows <= 0:
        fail("--rows %d: must be positive" % args.rows, 2)
    return args


def main():
    args = parse_args()
    torch = import_torch(args.threads)
    import torch.nn.functional as F
    try:
        from torch.func import functional_call
    except ImportError:     # before PyTorch 2.0
        from torch.nn.utils.stateless import functional_call
    sn, net, fwd_flops_sample = build_network(torch, args)
    weights = net.weight_parameters()
    alphas = net.arch_parameters()
    arch = {id(a) for a in alphas}
    weight_names = [n for n, p in net.named_parameters() if id(p) not in arch]
    n = sn.alpha_size(net)
    rows = n if args.rows is None else min(args.rows, n)

    (x_train, y_train), (x_val, y_val) = draw_batches(torch, args)

    def cat(parts):
        return torch.cat([t.reshape(-1) for t in parts])

    def loss_at(x, y):
        return F.cross_entropy(net(x), y)

    # ---------------------------------------------------------------- Hessian
    def hessian():
        for _ in range(args.warmup):
            torch.autograd.grad(loss_at(x_val, y_val), alphas)
        t0 = time.perf_counter()
        g = cat(torch.autograd.grad(loss_at(x_val, y_val), alphas, create_graph=True))
        t_grad = time.perf_counter() - t0
        H, row_s = [], []
        for i in range(rows):
            t = time.perf_counter()
            H.append(cat(torch.autograd.grad(g[i], alphas, retain_graph=True)))
            row_s.append(time.perf_counter() - t)
        t_rows = sum(row_s)
        out = dict(NO_HESSIAN, hessian_grad_s=t_grad, hessian_rows_s=t_rows,
                   hessian_row_s={"median": statistics.median(row_s), "min": min(row_s)},
                   hessian_rows_timed=rows)
        if rows < n:
            out["hessian_total_s_extrapolated"] = t_grad + t_rows * n / rows
            return out
        t = time.perf_counter()
        Hm = torch.stack(H).double()
        Hm = 0.5 * (Hm + Hm.T) + ARCH_WD * torch.eye(n, dtype=torch.float64)
        eig = torch.linalg.eigvalsh(Hm)
        out["hessian_eig_s"] = time.perf_counter() - t
        out["hessian_total_s"] = t_grad + t_rows + out["hessian_eig_s"]
        out["hessian_lambda_max"] = eig[-1].item()
        return out

    # ---------------------------------------------------------------- steps
    arch_opt = torch.optim.Adam(alphas, lr=ARCH_LR, betas=ARCH_BETAS, weight_decay=ARCH_WD)
    w_opt = torch.optim.SGD(weights, lr=W_LR, momentum=W_MOMENTUM, weight_decay=W_WD)

    def momentum_of(p):
        buf = w_opt.state.get(p, {}).get("momentum_buffer")
        return torch.zeros_like(p) if buf is None else buf

    def virtual_step(gw):
        """w' from grad_w L_train (the current lr is xi, as in DARTS)."""
        xi = w_opt.param_groups[0]["lr"]
        return [w - xi * (W_MOMENTUM * momentum_of(w) + g + W_WD * w)
                for w, g in zip(weights, gw)], xi

    def weight_step():
        net.zero_grad(set_to_none=True)
        loss_at(x_train, y_train).backward()
        torch.nn.utils.clip_grad_norm_(weights, W_CLIP)
        w_opt.step()

    def step_fd():
        net.zero_grad(set_to_none=True)
        gw = torch.autograd.grad(loss_at(x_train, y_train), weights)
        saved = [w.detach().clone() for w in weights]
        with torch.no_grad():
            w1, xi = virtual_step(gw)
            for w, t in zip(weights, w1):
                w.copy_(t)
        g = torch.autograd.grad(loss_at(x_val, y_val), weights + alphas)
        v, g_alpha = g[:len(weights)], g[len(weights):]
        r = FD_R / cat(v).norm()
        mixed = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for w, s, d in zip(weights, saved, v):
                    w.copy_(s + sign * r * d)
            mixed.append(torch.autograd.grad(loss_at(x_train, y_train), alphas))
        with torch.no_grad():
            for w, s in zip(weights, saved):
                w.copy_(s)
            for a, ga, gp, gm in zip(alphas, g_alpha, *mixed):
                a.grad = ga - xi * (gp - gm) / (2 * r)
        arch_opt.step()
        weight_step()

    def step_exact():
        net.zero_grad(set_to_none=True)
        gw = torch.autograd.grad(loss_at(x_train, y_train), weights, create_graph=True)
        w1, _ = virtual_step(gw)
        logits = functional_call(net, dict(zip(weight_names, w1)), (x_val,))
        g_alpha = torch.autograd.grad(F.cross_entropy(logits, y_val), alphas)
        for a, ga in zip(alphas, g_alpha):
            a.grad = ga
        arch_opt.step()
        weight_step()

    out = dict(NO_HESSIAN)
    if args.only in (None, "hessian"):
        out.update(hessian())
    out["second_order_step_fd_ms"] = out["second_order_step_exact_ms"] = None
    if args.only in (None, "step_fd"):
        out["second_order_step_fd_ms"] = timed(step_fd, args.warmup, args.iters)
    if args.only in (None, "step_exact"):
        out["second_order_step_exact_ms"] = timed(step_exact, args.warmup, args.iters)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux

    result = run_record(
        torch, args, rows=args.rows, alpha_init="1e-3*N(0,1)", arch_wd=ARCH_WD, xi=W_LR,
        momentum=W_MOMENTUM, weight_decay=W_WD, fd_r="%g/|v|" % FD_R)
    result.update({
        "forward_flops_per_sample": fwd_flops_sample,
        "weight_params": sn.weight_param_count(net),
        "alpha_size": n,
    })
    result.update(out)
    result["peak_rss_mib"] = rss_mib
    if args.json:
        print(json.dumps(result))
        return
    report(result)


def report(r):
    c = r["config"]
    print_run(r)
    print("%d weight parameters, %d alphas" % (r["weight_params"], r["alpha_size"]))
    if r["hessian_grad_s"] is not None:
        print("Hessian: gradient with create_graph %.3f s, %d rows %.3f s "
              "(per row median %.4f s, min %.4f s)"
              % (r["hessian_grad_s"], r["hessian_rows_timed"], r["hessian_rows_s"],
                 r["hessian_row_s"]["median"], r["hessian_row_s"]["min"]))
        if r["hessian_total_s"] is not None:
            print("         eigenvalues %.4f s; total %.3f s; lambda_max %.6g (with wd %g)"
                  % (r["hessian_eig_s"], r["hessian_total_s"], r["hessian_lambda_max"],
                     c["arch_wd"]))
        else:
            print("         total EXTRAPOLATED to %d rows: %.3f s (no eigenvalues)"
                  % (r["alpha_size"], r["hessian_total_s_extrapolated"]))
    for name in ("fd", "exact"):
        t = r["second_order_step_%s_ms" % name]
        if t is not None:
            print("second-order step (%s): median %.2f ms, min %.2f ms"
                  % (name, t["median"], t["min"]))
    print("peak RSS %.1f MiB" % r["peak_rss_mib"])


if __name__ == "__main__":
    main()
