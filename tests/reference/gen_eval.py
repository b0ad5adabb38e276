"""Write eval_darts.safetensors: the batch-norm running statistics and the
eval-mode output of a small DARTS search network, for checking nasc's
running-statistics update (training mode) and its eval-mode program (the
`infer` entry point) against PyTorch.

The file holds, in this order:
  - the state, all F32, as gen_grad.py draws it (PyTorch's default
    initialisation, alphas from N(0, 1)) under nasc's names and in nasc's
    order;
  - the batch: x F32 [B, C, H, W] from N(0, 1) and y I64 [B];
  - expect.running.<name> (F64) for every running statistic of nasc's
    program (`<batch norm>.running_mean` and `.running_var`, in nasc's
    order, which is the order of PyTorch's BatchNorm2d modules): their
    values after ONE training-mode forward pass on the batch, starting
    from PyTorch's initial ones (mean 0, variance 1), with PyTorch's
    default momentum 0.1 and its unbiased batch variance;
  - expect.eval.logits and expect.eval.loss (F64): the network in EVAL mode
    on the same batch, every batch norm normalizing with those statistics.
Everything is computed by PyTorch in float64 from the float32 state and
batch.

Before writing, the running statistics are checked against the update
written out here from each batch norm's input (captured by a hook); after
writing, the file is read back and compared bitwise, and a second run must
give bitwise the same tensors.

Run with the Debian interpreter and python3-torch (needs a built ./nasc at
the repo root, or NASC=/path/to/nasc):
    /usr/bin/python3 tests/reference/gen_eval.py
"""
import os
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from gen_forward import HERE, fail, nasc_dump, shape_of
from gen_grad import KEYS, assert_same, build, describe, draw_batch, shown, widen, write_verified

CONFIG = dict(space="darts", C=2, layers=3, nodes=2, input="3x8x8", classes=10, batch=4)
MOMENTUM = 0.1
RUNNING_RE = re.compile(r'= running "([^"]+)" : f32\[([0-9,]*)\]')
CHECK_TOL = 1e-12


def matched_running(cfg, net):
    """[(nasc name, PyTorch buffer)]: each batch norm's running mean and
    variance, after checking that nasc has a pair per BatchNorm2d of net,
    in the same order, with the same channel counts."""
    nasc = [(m.group(1), shape_of(m.group(2))) for m in RUNNING_RE.finditer(nasc_dump(cfg))]
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    if len(nasc) != 2 * len(bns):
        fail("%s: nasc has %d running statistics, PyTorch %d batch norms"
             % (cfg["space"], len(nasc), len(bns)))
    out = []
    for i, bn in enumerate(bns):
        (mn, ms), (vn, vs) = nasc[2 * i], nasc[2 * i + 1]
        if not (mn.endswith(".running_mean") and vn.endswith(".running_var") and
                mn[:-len("running_mean")] == vn[:-len("running_var")]):
            fail("%s: running statistics %d and %d are not one batch norm's: %s, %s"
                 % (cfg["space"], 2 * i, 2 * i + 1, mn, vn))
        if ms != [bn.num_features] or vs != [bn.num_features]:
            fail("%s: batch norm %d: nasc %s %s vs PyTorch %d channels"
                 % (cfg["space"], i, mn, ms, bn.num_features))
        out += [(mn, bn.running_mean), (vn, bn.running_var)]
    return out


def compute(cfg):
    """The file's tensors, and the largest deviation of PyTorch's running
    statistics from the update written out here."""
    net, pairs = build(cfg, None)
    x, y = draw_batch(cfg)
    net64, _ = widen(net, pairs)
    x64 = x.double()
    bns = [m for m in net64.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.momentum = MOMENTUM
        bn.reset_running_stats()
    seen = {}
    hooks = [bn.register_forward_pre_hook(lambda m, inp: seen.setdefault(id(m), inp[0].detach()))
             for bn in bns]
    net64.train()
    with torch.no_grad():
        net64(x64)
    for h in hooks:
        h.remove()
    # the rule nasc implements, from each batch norm's input
    worst = 0.0
    for bn in bns:
        xin = seen[id(bn)]
        n = xin.numel() // xin.shape[1]
        mean = xin.mean(dim=(0, 2, 3))
        var = xin.var(dim=(0, 2, 3), unbiased=False) * n / (n - 1)
        want_m = (1 - MOMENTUM) * 0.0 + MOMENTUM * mean
        want_v = (1 - MOMENTUM) * 1.0 + MOMENTUM * var
        worst = max(worst, ((bn.running_mean - want_m).abs() / want_m.abs().clamp(min=1e-3)).max().item(),
                    ((bn.running_var - want_v).abs() / want_v.abs()).max().item())
    net64.eval()
    with torch.no_grad():
        logits = net64(x64)
        loss = F.cross_entropy(logits, y)
    tensors = [(n, p.detach().clone()) for n, p in pairs]
    tensors += [("x", x), ("y", y)]
    tensors += [("expect.running." + n, b.detach().clone()) for n, b in matched_running(cfg, net64)]
    tensors += [("expect.eval.logits", logits), ("expect.eval.loss", loss)]
    return tensors, worst


def generate(cfg, path):
    tensors, worst = compute(cfg)
    if not worst < CHECK_TOL:
        fail("%s: PyTorch's running statistics differ from the update rule by %.3g"
             % (cfg["space"], worst))
    assert_same(tensors, compute(cfg)[0], "non-deterministic")

    meta = {k: str(cfg[k]) for k in KEYS}
    meta["mode"] = "train once, then eval"
    meta["momentum"] = str(MOMENTUM)
    meta["generator"] = "tests/reference/gen_eval.py (torch %s)" % torch.__version__
    meta["precision"] = "state f32, expect f64"
    write_verified(path, tensors, meta)

    t = dict(tensors)
    nrun = sum(1 for n in t if n.startswith("expect.running."))
    print("%s: %s (%d bytes, %d running statistics)"
          % (describe(cfg), shown(path), os.path.getsize(path), nrun))
    print("  eval loss = %r" % t["expect.eval.loss"].item())
    print("  running statistics against the rule written out here: max rel err %.2e" % worst)


def main():
    generate(CONFIG, os.path.join(HERE, "eval_darts.safetensors"))


if __name__ == "__main__":
    main()
