"""Write grad_<space>.safetensors: loss-and-gradient fixtures for checking
nasc's backward pass (the IR interpreter's, and later the generated
binaries') against PyTorch.

Each file holds, in this order:
  - the state, all F32: every weight tensor under nasc's name, in nasc's
    order (= PyTorch's named_parameters order, checked tensor by tensor
    against `nasc dump --after=sema`), then alpha.normal and alpha.reduce.
    Weights are PyTorch's default initialisation; the alphas are drawn from
    N(0, 1), not 1e-3 N(0, 1), so that the candidate mixture matters;
  - the batch: x F32 [B, C, H, W] from N(0, 1) and y I64 [B];
  - expect.loss (F64, shape []) and expect.grad.<name> (F64) for every
    tensor of the state, in the state's order: the mean cross-entropy loss of
    the network in TRAINING mode (batch-norm uses batch statistics) and its
    gradient, computed by PyTorch in float64 from the float32 state and batch
    (the f32 values widened exactly, then everything in f64).

Before writing, the gradient is checked against central differences in
float64 on a few random coordinates of the weights and of both alphas; after
writing, the file is read back and compared bitwise, and a second run must
give bitwise the same tensors.

Run with the Debian interpreter and python3-torch (needs a built ./nasc at
the repo root, or NASC=/path/to/nasc):
    /usr/bin/python3 tests/reference/gen_grad.py
regenerates the committed files.  One configuration, or a state written by
nasc instead of PyTorch's initialisation:
    gen_grad.py --space s2 --C 8 --out /tmp/g.safetensors
    gen_grad.py --state STATE.safetensors --out /tmp/g.safetensors
With --state the configuration comes from the state's metadata where it has
the keys (space, C, layers, nodes, input, classes, batch), else from the
committed configuration of the space; command-line options override both.
The batch is always drawn here.
"""
import argparse
import copy
import json
import os
import struct

import torch
import torch.nn.functional as F

import supernet as sn
from gen_forward import (DTYPES, HERE, ROOT, fail, matched_tensors, read_safetensors,
                         write_safetensors)

# Small enough to keep every file well under 200 KB (a darts cell with 8
# candidates per edge forces C=2), varied so that 1 and 3 input channels
# and 2, 3 and 4 nodes all occur.
CONFIGS = [
    dict(space="darts", C=2, layers=3, nodes=2, input="3x8x8", classes=10, batch=2),
    dict(space="s1", C=4, layers=3, nodes=4, input="1x8x8", classes=5, batch=3),
    dict(space="s2", C=4, layers=3, nodes=2, input="3x8x8", classes=7, batch=4),
    dict(space="s3", C=2, layers=3, nodes=3, input="1x8x8", classes=6, batch=3),
]
KEYS = ("space", "C", "layers", "nodes", "input", "classes", "batch")
INT_KEYS = ("C", "layers", "nodes", "classes", "batch")
SPACES = [c["space"] for c in CONFIGS]   # s4 draws noise: no fixed gradient

# Finite-difference check: central differences with step FD_STEP on
# FD_WEIGHTS coordinates (each in a different weight tensor) and FD_ALPHA
# coordinates of each alpha, drawn among those whose gradient is at least
# FD_MIN_GRAD in size (a smaller one drowns in the rounding of the loss).
FD_WEIGHTS = 8
FD_ALPHA = 4
FD_STEP = 1e-5
FD_MIN_GRAD = 1e-4
FD_TOL = 1e-6


def input_shape(cfg):
    return [int(d) for d in cfg["input"].split("x")]


def build(cfg, state):
    """The float32 network with PyTorch's default initialisation and N(0, 1)
    alphas, or with every tensor taken from state; and its tensors in nasc's
    order as [(nasc name, parameter)]."""
    torch.manual_seed(0)
    try:
        net = sn.Network(cfg["C"], cfg["layers"], cfg["nodes"], input_shape(cfg)[0],
                         cfg["classes"], cfg["space"]).float()
    except ValueError as e:
        fail("%s: %s" % (cfg["space"], e))
    net.train()
    torch.manual_seed(3)
    with torch.no_grad():
        net.alphas_normal.normal_(0.0, 1.0)
        net.alphas_reduce.normal_(0.0, 1.0)
    pairs = matched_tensors(cfg, net)
    if state is not None:
        load_state(cfg, pairs, *state)
    return net, pairs


def load_state(cfg, pairs, path, tensors):
    """Copy the state file's tensors into pairs, after checking that it
    holds exactly nasc's tensors for cfg, in order, F32, with their shapes."""
    want = [(n, list(p.shape)) for n, p in pairs]
    names = [n for n, _ in tensors]
    where = "%s: not a state of %s" % (path, describe(cfg))
    missing = [n for n, _ in want if n not in names]
    extra = [n for n in names if n not in dict(want)]
    if missing or extra:
        def some(ns):
            return ", ".join(ns[:3]) + (" and %d more" % (len(ns) - 3) if len(ns) > 3 else "")
        fail("%s: %s" % (where, "; ".join(
            ["missing " + some(missing)] * bool(missing) +
            ["unexpected " + some(extra)] * bool(extra))))
    for i, ((wn, ws), (n, t)) in enumerate(zip(want, tensors)):
        if n != wn:
            fail("%s: tensor %d is `%s` where nasc's order has `%s` (every weight "
                 "as in `nasc dump --after=sema`, then alpha.normal, alpha.reduce)"
                 % (where, i, n, wn))
        if t.dtype != torch.float32:
            fail("%s: `%s` is %s, not F32" % (where, n, DTYPES.get(t.dtype, t.dtype)))
        if list(t.shape) != ws:
            fail("%s: `%s` has shape %s, nasc's has %s" % (where, n, list(t.shape), ws))
        if not torch.isfinite(t).all():
            fail("%s: `%s` holds a NaN or an infinity" % (path, n))
    with torch.no_grad():
        for (_, p), (_, t) in zip(pairs, tensors):
            p.copy_(t)


def draw_batch(cfg):
    torch.manual_seed(1)
    x = torch.randn(cfg["batch"], *input_shape(cfg), dtype=torch.float32)
    torch.manual_seed(2)
    y = torch.randint(cfg["classes"], (cfg["batch"],))
    return x, y


def widen(net, pairs):
    """A float64 copy of net and its tensors in the order of pairs."""
    net64 = copy.deepcopy(net).double()
    twin = {id(p): q for p, q in zip(net.parameters(), net64.parameters())}
    return net64, [(n, twin[id(p)]) for n, p in pairs]


def compute(cfg, state):
    """Returns the tensors of the file, and what the FD check needs."""
    net, pairs = build(cfg, state)
    x, y = draw_batch(cfg)
    net64, pairs64 = widen(net, pairs)
    x64 = x.double()
    loss = F.cross_entropy(net64(x64), y)
    grads = torch.autograd.grad(loss, [p for _, p in pairs64])
    tensors = [(n, p.detach().clone()) for n, p in pairs]
    tensors += [("x", x), ("y", y), ("expect.loss", loss.detach())]
    tensors += [("expect.grad." + n, g) for (n, _), g in zip(pairs, grads)]
    return tensors, (net64, pairs64, x64, y, grads)


def fd_check(cfg, net64, pairs64, x64, y, grads):
    """Central differences in float64 against the autograd gradient on a few
    random coordinates; returns [(name, index, grad, fd, relative error)]."""
    def loss_at():
        with torch.no_grad():
            return F.cross_entropy(net64(x64), y).item()

    gen = torch.Generator().manual_seed(4)
    nw = len(pairs64) - 2
    picks = []

    def pick(i, count):
        flat = grads[i].reshape(-1)
        ok = (flat.abs() >= FD_MIN_GRAD).nonzero().reshape(-1)
        if len(ok) == 0:
            return 0
        for j in torch.randperm(len(ok), generator=gen)[:count]:
            picks.append((i, int(ok[j])))
        return min(count, len(ok))

    got = 0
    for i in torch.randperm(nw, generator=gen).tolist():
        if got == FD_WEIGHTS:
            break
        got += pick(i, 1)
    if got < FD_WEIGHTS:
        fail("%s: too few weight gradients above %g for the FD check"
             % (cfg["space"], FD_MIN_GRAD))
    for i in (nw, nw + 1):
        if pick(i, FD_ALPHA) < FD_ALPHA:
            fail("%s: too few %s gradients above %g for the FD check"
                 % (cfg["space"], pairs64[i][0], FD_MIN_GRAD))

    out = []
    for i, k in picks:
        name, p = pairs64[i]
        flat = p.data.view(-1)
        v = flat[k].item()
        flat[k] = v + FD_STEP
        up = loss_at()
        flat[k] = v - FD_STEP
        down = loss_at()
        flat[k] = v
        fd = (up - down) / (2 * FD_STEP)
        g = grads[i].reshape(-1)[k].item()
        rel = abs(fd - g) / max(abs(fd), abs(g))
        out.append((name, k, g, fd, rel))
        if not rel < FD_TOL:
            fail("%s: FD check of %s[%d]: autograd %.17g, central difference %.17g, "
                 "relative error %.3g >= %g" % (cfg["space"], name, k, g, fd, rel, FD_TOL))
    return out


def same_bits(a, b):
    return (a.dtype == b.dtype and list(a.shape) == list(b.shape) and
            a.contiguous().reshape(-1).numpy().tobytes() ==
            b.contiguous().reshape(-1).numpy().tobytes())


def assert_same(tensors, again, why):
    """Two lists of (name, tensor) hold the same names and bits."""
    assert [n for n, _ in again] == [n for n, _ in tensors], "%s names" % why
    for (n, a), (_, b) in zip(tensors, again):
        assert same_bits(a, b), "%s: %s" % (n, why)


def write_verified(path, tensors, meta):
    """Write the fixture, read it back and compare bitwise."""
    write_safetensors(path, tensors, meta)
    rmeta, back = read_safetensors(path)
    assert rmeta == meta, "metadata mismatch"
    assert_same(tensors, back, "data mismatch")


def describe(cfg):
    return "%s (%s)" % (cfg["space"], " ".join("%s=%s" % (k, cfg[k]) for k in KEYS[1:]))


def shown(path):
    rel = os.path.relpath(path, ROOT)
    return path if rel.startswith("..") else rel


def generate(cfg, path, state=None):
    tensors, (net64, pairs64, x64, y, grads) = compute(cfg, state)
    if state is not None:
        for (n, a), (_, b) in zip(tensors, state[1]):
            assert same_bits(a, b), "%s: state not copied exactly" % n
    # determinism: a second run gives bitwise the same file contents
    assert_same(tensors, compute(cfg, state)[0], "non-deterministic")
    # the fixture is right before it is written
    fd = fd_check(cfg, net64, pairs64, x64, y, grads)

    meta = {k: str(cfg[k]) for k in KEYS}
    meta["mode"] = "train"
    meta["generator"] = "tests/reference/gen_grad.py (torch %s)" % torch.__version__
    meta["precision"] = "state f32, expect f64"
    write_verified(path, tensors, meta)

    nw = len(pairs64) - 2
    g = dict((n[len("expect.grad."):], t) for n, t in tensors if n.startswith("expect.grad."))
    wnorm = torch.cat([g[n].reshape(-1) for n, _ in pairs64[:nw]]).norm().item()
    loss = dict(tensors)["expect.loss"].item()
    print("%s: %s (%d bytes, %d weights + 2 alphas)"
          % (describe(cfg), shown(path), os.path.getsize(path), nw))
    print("  loss = %r" % loss)
    print("  |grad| weights %.6g, alpha.normal %.6g, alpha.reduce %.6g"
          % (wnorm, g["alpha.normal"].norm().item(), g["alpha.reduce"].norm().item()))
    print("  FD check (h=%g): %d coordinates (%d weights, %d+%d alpha), |grad| %.3g..%.3g, "
          "max rel err %.2e" % (FD_STEP, len(fd), FD_WEIGHTS, FD_ALPHA, FD_ALPHA,
                                min(abs(r[2]) for r in fd), max(abs(r[2]) for r in fd),
                                max(r[4] for r in fd)))


def read_state(path):
    try:
        return read_safetensors(path)
    except (OSError, ValueError, KeyError, AssertionError, struct.error) as e:
        fail("%s: cannot read the state: %s" % (path, e))


def main():
    ap = argparse.ArgumentParser(
        description="Write loss-and-gradient fixtures (grad_<space>.safetensors). "
                    "With no arguments, regenerate the committed ones.")
    ap.add_argument("--space", choices=SPACES)
    for k in INT_KEYS:
        ap.add_argument("--" + k, type=int)
    ap.add_argument("--input", help="CxHxW, e.g. 3x8x8")
    ap.add_argument("--state", help="take weights and alphas from this safetensors file "
                                    "(F32, nasc's names and order) instead of initialising")
    ap.add_argument("--out", help="where to write (required unless the configuration "
                                  "is a committed one and there is no --state)")
    args = ap.parse_args()
    opts = {k: getattr(args, k) for k in KEYS if getattr(args, k) is not None}

    if not opts and args.state is None:
        if args.out is not None:
            fail("--out needs one configuration: give --space or --state")
        for cfg in CONFIGS:
            generate(cfg, os.path.join(HERE, "grad_%s.safetensors" % cfg["space"]))
        return

    state, meta = None, {}
    if args.state is not None:
        smeta, stensors = read_state(args.state)
        state = (args.state, stensors)
        meta = {k: smeta[k] for k in KEYS if k in smeta}
        if "space" in meta and meta["space"] not in SPACES:
            fail("%s: space `%s` in the metadata has no gradient fixture (one of %s)"
                 % (args.state, meta["space"], ", ".join(SPACES)))
        for k in INT_KEYS:
            if k in meta:
                try:
                    meta[k] = int(meta[k])
                except ValueError:
                    fail("%s: metadata %s=%s is not an integer"
                         % (args.state, k, json.dumps(meta[k])))
    space = opts.get("space", meta.get("space"))
    if space is None:
        fail("which space? give --space (%s has no `space` metadata)" % args.state)
    committed = next(c for c in CONFIGS if c["space"] == space)
    cfg = dict(committed)
    cfg.update(meta)
    cfg.update(opts)
    shape = cfg["input"].split("x")
    if len(shape) != 3 or not all(d.isdigit() and int(d) > 0 for d in shape):
        fail("input `%s` is not CxHxW" % cfg["input"])
    for k in INT_KEYS:
        if cfg[k] <= 0:
            fail("%s=%d: must be positive" % (k, cfg[k]))

    if args.out is not None:
        path = args.out
    elif state is None and cfg == committed:
        path = os.path.join(HERE, "grad_%s.safetensors" % space)
    else:
        fail("give --out PATH: only the committed configurations, initialised here, "
             "are written to tests/reference/ by default")
    generate(cfg, path, state)


if __name__ == "__main__":
    main()
