"""Write second_<space>.safetensors: fixtures for nasc's second-order DARTS
architecture gradient (docs: DESIGN section 4).

With the virtual step
    w'(alpha) = w - xi * (mu * m + grad_w L_train(w, alpha) + lambda * w)
the second-order gradient is the exact gradient of the unrolled objective
    L_val(w'(alpha), alpha)
with respect to alpha, through the virtual step, which equals
    grad_alpha L_val(w', alpha) - xi * d2 L_train / (dalpha dw) . grad_w' L_val(w', alpha).
All losses are the mean cross-entropy in TRAINING mode (batch norm with batch
statistics), with no weight decay of their own.

Each file holds, in this order:
  - the state, all F32, as gen_grad.py draws it (PyTorch's default
    initialisation, alphas from N(0, 1)) under nasc's names and in nasc's
    order;
  - optim.sgd.momentum F32 [nw]: the SGD momentum buffer m, 0.01 N(0, 1),
    flat over the weights in the state's order (as nasc's checkpoints
    store it);
  - the training batch x F32, y I64 and the validation batch val.x F32,
    val.y I64, both from N(0, 1) and uniform labels;
  - expect.xi, expect.momentum (mu) and expect.weight_decay (lambda), F64 [];
  - expect.loss.unrolled F64 []: L_val(w', alpha);
  - expect.grad_alpha.second F64 [n]: the exact second-order gradient,
    computed by autograd through the virtual step (create_graph through
    grad_w L_train); n = the entries of alpha.normal then alpha.reduce,
    row-major;
  - expect.grad_alpha.first F64 [n]: grad_alpha L_val(w, alpha), at the
    weights before the step (first-order DARTS);
  - expect.grad_alpha.fd F64 [n]: DARTS's approximation, the mixed product
    by central differences of grad_alpha L_train at w +- r v with
    v = grad_w' L_val(w', alpha) and r = 0.01 / |v|; for information.  On
    networks this small, steps of that size cross ReLU kinks and the
    result is far from the exact gradient (relative distance 1.4 for darts,
    1.8 for s2, where a 1000 times smaller r agrees to 1e-8): it pins
    DARTS's computation, not the derivative.
Everything is computed by PyTorch in float64 from the float32 values.

Before writing, the script checks that autograd's second-order gradient
agrees with the explicit formula (the mixed product by double backward) to
1e-10, and with central differences of the unrolled objective along random
directions of alpha to 1e-6; that first- and second-order gradients differ
(cosine below 0.9999), so the fixture tells the two apart; and, as
gen_hessian.py does, that two runs write the same bytes, read back bitwise.

Run with the Debian interpreter and python3-torch (needs a built ./nasc at
the repo root, or NASC=/path/to/nasc):
    /usr/bin/python3 tests/reference/gen_second.py             # both
    /usr/bin/python3 tests/reference/gen_second.py s2          # one of them
"""
import os

# first: it pins torch and its BLAS to one thread before they load
from gen_hessian import cosine, flat, moved, publish, regenerate, unit_directions
from gen_forward import fail
from gen_grad import KEYS, build, describe, draw_batch, input_shape, shown, widen

import torch
import torch.nn.functional as F
from torch.nn.utils.stateless import functional_call

# The darts one is gen_hessian.py's darts network (n = 80), the s2 one has
# n = 20; each file well under 200 KB.
CONFIGS = [
    dict(space="darts", C=2, layers=3, nodes=2, input="3x8x8", classes=10, batch=4),
    dict(space="s2", C=4, layers=3, nodes=2, input="1x8x8", classes=5, batch=3),
]
XI = 0.025              # DARTS's virtual-step learning rate (= the weights' lr)
MU = 0.9
LAMBDA = 3e-4
MOMENTUM_SCALE = 0.01
FD_R = 0.01             # DARTS's r = FD_R / |v|
FD_R_SMALL = 1e-5       # for the summary: small enough to cross no kink here

FORMULA_TOL = 1e-10     # |autograd - formula| / |autograd|
DIR_COUNT = 4
DIR_STEP = 1e-5         # small: a larger step crosses ReLU and max-pool kinks
DIR_TOL = 1e-6
COSINE_MAX = 0.9999


def draw_extra(cfg, nw):
    """The validation batch and the momentum buffer, each from its own seed."""
    torch.manual_seed(6)
    vx = torch.randn(cfg["batch"], *input_shape(cfg), dtype=torch.float32)
    torch.manual_seed(7)
    vy = torch.randint(cfg["classes"], (cfg["batch"],))
    torch.manual_seed(8)
    m = MOMENTUM_SCALE * torch.randn(nw, dtype=torch.float32)
    return vx, vy, m


class Problem:
    """The network in f64 as a function of (weights, alphas) lists, with
    the batches and the momentum buffer."""

    def __init__(self, cfg):
        net, pairs = build(cfg, None)
        self.pairs = pairs
        nw = sum(p.numel() for _, p in pairs[:-2])
        self.x, self.y = draw_batch(cfg)
        self.vx, self.vy, self.m = draw_extra(cfg, nw)
        self.net64, pairs64 = widen(net, pairs)
        pt_name = {id(p): n for n, p in self.net64.named_parameters()}
        self.names = [pt_name[id(p)] for _, p in pairs64]
        self.w = [p.detach().clone().requires_grad_() for _, p in pairs64[:-2]]
        self.alphas = [p.detach().clone().requires_grad_() for _, p in pairs64[-2:]]
        self.m64 = [t.view_as(w) for t, w in
                    zip(self.m.double().split([w.numel() for w in self.w]), self.w)]
        self.train = (self.x.double(), self.y)
        self.val = (self.vx.double(), self.vy)

    def loss(self, w, alphas, batch):
        logits = functional_call(self.net64, dict(zip(self.names, list(w) + list(alphas))),
                                 (batch[0],))
        return F.cross_entropy(logits, batch[1])

    def virtual_step(self, alphas, create_graph):
        gw = torch.autograd.grad(self.loss(self.w, alphas, self.train), self.w,
                                 create_graph=create_graph)
        return [w - XI * (MU * m + g + LAMBDA * w) for w, m, g in zip(self.w, self.m64, gw)]

    def unrolled(self, alphas):
        """L_val(w'(alpha), alpha), differentiable in alpha through w'."""
        return self.loss(self.virtual_step(alphas, True), alphas, self.val)

    def alpha_grad(self, w, batch):
        return flat(torch.autograd.grad(self.loss(w, self.alphas, batch), self.alphas))


def fd_mixed(pb, v, c):
    """DARTS's mixed product: central differences of grad_alpha L_train
    along v, at w +- r v with r = c / |v|."""
    r = c / flat(v).norm()
    with torch.no_grad():
        w_plus = [w + r * d for w, d in zip(pb.w, v)]
        w_minus = [w - r * d for w, d in zip(pb.w, v)]
    return (pb.alpha_grad(w_plus, pb.train) - pb.alpha_grad(w_minus, pb.train)) / (2 * r)


def compute(cfg):
    """The file's tensors and the figures of the checks."""
    pb = Problem(cfg)
    lv = pb.unrolled(pb.alphas)
    second = flat(torch.autograd.grad(lv, pb.alphas))
    first = pb.alpha_grad(pb.w, pb.val)

    # the explicit formula: the mixed product by double backward
    w1 = [t.detach().requires_grad_() for t in pb.virtual_step(pb.alphas, False)]
    g = torch.autograd.grad(pb.loss(w1, pb.alphas, pb.val), w1 + pb.alphas)
    v, g_val = g[:len(w1)], flat(g[len(w1):])
    gw = torch.autograd.grad(pb.loss(pb.w, pb.alphas, pb.train), pb.w, create_graph=True)
    mixed = flat(torch.autograd.grad(sum((a * b).sum() for a, b in zip(gw, v)), pb.alphas))
    formula = g_val - XI * mixed

    fd = g_val - XI * fd_mixed(pb, v, FD_R)

    tensors = [(n, p.detach().clone()) for n, p in pb.pairs]
    tensors += [("optim.sgd.momentum", pb.m), ("x", pb.x), ("y", pb.y),
                ("val.x", pb.vx), ("val.y", pb.vy)]
    tensors += [("expect." + k, torch.tensor(val, dtype=torch.float64))
                for k, val in (("xi", XI), ("momentum", MU), ("weight_decay", LAMBDA))]
    tensors += [("expect.loss.unrolled", lv.detach()),
                ("expect.grad_alpha.second", second),
                ("expect.grad_alpha.first", first),
                ("expect.grad_alpha.fd", fd)]
    figures = dict(formula=((second - formula).norm() / second.norm()).item(),
                   mixed=(XI * mixed).norm().item() / second.norm().item(),
                   at_w1=cosine(g_val, second), fd=((fd - second).norm() / second.norm()).item(),
                   fd_small=((fd_mixed(pb, v, FD_R_SMALL) - mixed).norm() / mixed.norm()).item())
    return tensors, pb, figures


def directional_check(pb, second):
    """Central differences of the unrolled objective along random unit
    directions of alpha against second . d; the worst relative error."""
    saved = [a.detach().clone() for a in pb.alphas]
    worst = 0.0
    for d in unit_directions(second.shape[0], DIR_COUNT, 9):
        f = []
        for sign in (1.0, -1.0):
            shifted = [t.requires_grad_() for t in moved(saved, d, sign * DIR_STEP)]
            f.append(pb.unrolled(shifted).item())
        fd = (f[0] - f[1]) / (2 * DIR_STEP)
        want = (second @ d).item()
        worst = max(worst, abs(fd - want) / max(abs(fd), abs(want)))
    return worst


def generate(cfg, path):
    tensors, pb, fig = compute(cfg)
    t = dict(tensors)
    second, first = t["expect.grad_alpha.second"], t["expect.grad_alpha.first"]
    if not fig["formula"] < FORMULA_TOL:
        fail("%s: autograd through the virtual step and the explicit formula differ by "
             "%.3g (relative)" % (cfg["space"], fig["formula"]))
    worst = directional_check(pb, second)
    if not worst < DIR_TOL:
        fail("%s: central differences of the unrolled objective differ by %.3g (relative)"
             % (cfg["space"], worst))
    cos = cosine(first, second)
    if not cos < COSINE_MAX:
        fail("%s: first- and second-order gradients are too alike (cosine %.6f): "
             "raise xi" % (cfg["space"], cos))

    meta = {k: str(cfg[k]) for k in KEYS}
    meta["mode"] = "train"
    meta["alpha_init"] = "N(0,1)"
    meta["momentum_init"] = "%g*N(0,1)" % MOMENTUM_SCALE
    meta["xi"], meta["momentum"], meta["weight_decay"] = str(XI), str(MU), str(LAMBDA)
    meta["generator"] = "tests/reference/gen_second.py (torch %s)" % torch.__version__
    meta["precision"] = "state f32, expect f64"
    publish(path, tensors, compute(cfg)[0], meta)

    print("%s: %s (%d bytes, %d weights, n = %d)"
          % (describe(cfg), shown(path), os.path.getsize(path), pb.m.numel(), second.numel()))
    print("  xi %g, mu %g, lambda %g; L_val(w') = %r"
          % (XI, MU, LAMBDA, t["expect.loss.unrolled"].item()))
    print("  |second| %.6g, |first| %.6g, cosine(first, second) %.6f, "
          "cosine(grad_alpha L_val(w'), second) %.6f, |xi * mixed| / |second| %.3g"
          % (second.norm().item(), first.norm().item(), cos, fig["at_w1"], fig["mixed"]))
    print("  checks: autograd vs formula %.2e, unrolled objective vs FD (h=%g, %d dirs) %.2e"
          % (fig["formula"], DIR_STEP, DIR_COUNT, worst))
    print("  not checked: DARTS's FD gradient (r = %g / |v|) vs exact %.2e; its mixed product "
          "with r = %g / |v| vs double backward %.2e"
          % (FD_R, fig["fd"], FD_R_SMALL, fig["fd_small"]))


def main():
    regenerate(CONFIGS, "second", generate)


if __name__ == "__main__":
    main()
