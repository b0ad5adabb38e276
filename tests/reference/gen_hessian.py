"""Write hessian_<space>.safetensors: fixtures for nasc's curvature tracking,
the Hessian of the training-mode loss with respect to the architecture.

Each file holds, in this order:
  - the state, all F32, as gen_grad.py draws it (PyTorch's default
    initialisation, alphas from N(0, 1) so that the candidate mixture
    matters) under nasc's names and in nasc's order;
  - the batch: x F32 [B, C, H, W] from N(0, 1) and y I64 [B];
  - expect.loss (F64, []): the mean cross-entropy in TRAINING mode (batch
    norm with batch statistics);
  - expect.hessian (F64, [n, n]): d2 loss / d alpha2, no weight decay, where
    alpha is alpha.normal then alpha.reduce, each row-major (n entries in
    all), computed row by row by autograd (the gradient with create_graph,
    then the gradient of each of its entries), in float64 from the float32
    state and batch widened exactly;
  - expect.eigenvalues (F64, [n]): the eigenvalues of the symmetrized
    expect.hessian, ascending.
The loss sees each alpha row only through its softmax, so the Hessian has a
null space: one direction per row (the row's all-ones vector), that is 2 *
edges eigenvalues at rounding level.  The other eigenvalues come from the
network.

Before writing, the script checks that the Hessian is symmetric, that it
maps each row's all-ones vector to zero, and that its products with random
vectors agree with central differences of the autograd gradient; it
computes everything twice and writes only when both runs give the same
bits, then reads the file back and compares bitwise.  It runs PyTorch and
its BLAS on one thread, so the bits depend only on their builds and the CPU.

Run with the Debian interpreter and python3-torch (needs a built ./nasc at
the repo root, or NASC=/path/to/nasc):
    /usr/bin/python3 tests/reference/gen_hessian.py            # all three
    /usr/bin/python3 tests/reference/gen_hessian.py s2         # one of them
gen_second.py imports the helpers here (flat, cosine, unit_directions, moved,
publish, regenerate).
"""
import os
import sys
import tempfile

# One thread everywhere, set before torch (and its BLAS) load: the bits of a
# reduction, here the eigenvalues', depend on how it is split.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from gen_forward import HERE, fail  # noqa: E402
from gen_grad import KEYS, assert_same, build, describe, draw_batch, shown, widen, write_verified

# n = 2 * edges * ops: 80 for darts (nodes=2), 36 for s2 and 54 for s3
# (nodes=3); each file well under 200 KB.
CONFIGS = [
    dict(space="darts", C=2, layers=3, nodes=2, input="3x8x8", classes=10, batch=4),
    dict(space="s2", C=4, layers=3, nodes=3, input="1x8x8", classes=5, batch=3),
    dict(space="s3", C=2, layers=3, nodes=3, input="3x8x8", classes=6, batch=3),
]

SYM_TOL = 1e-10         # max |H - H^T| / max |H|
NULL_TOL = 1e-10        # max |H 1_row| / max |H|
HVP_DIRS = 4            # random directions for the finite-difference check
HVP_STEP = 1e-5         # small: a larger step crosses ReLU and max-pool kinks
HVP_TOL = 1e-6          # |FD - H v| / |H v|


def flat(ts):
    return torch.cat([t.reshape(-1) for t in ts])


def cosine(a, b):
    return (a @ b / (a.norm() * b.norm())).item()


def unit_directions(n, count, seed):
    """count random unit vectors of n entries, f64, the same every run."""
    gen = torch.Generator().manual_seed(seed)
    for _ in range(count):
        d = torch.randn(n, generator=gen, dtype=torch.float64)
        yield d / d.norm()


def moved(tensors, d, step):
    """The tensors plus step * d, d flat over them in order."""
    return [t + step * p.view_as(t)
            for t, p in zip(tensors, d.split([t.numel() for t in tensors]))]


def alpha_gradient(net64, alphas, x64, y, create_graph=False):
    loss = F.cross_entropy(net64(x64), y)
    return loss, flat(torch.autograd.grad(loss, alphas, create_graph=create_graph))


def compute(cfg):
    """The file's tensors and what the checks need."""
    net, pairs = build(cfg, None)
    x, y = draw_batch(cfg)
    net64, pairs64 = widen(net, pairs)
    x64 = x.double()
    alphas = [p for _, p in pairs64[-2:]]
    loss, g = alpha_gradient(net64, alphas, x64, y, create_graph=True)
    H = torch.stack([flat(torch.autograd.grad(g[i], alphas, retain_graph=True))
                     for i in range(len(g))])
    eig = torch.linalg.eigvalsh(0.5 * (H + H.T))
    tensors = [(n, p.detach().clone()) for n, p in pairs]
    tensors += [("x", x), ("y", y), ("expect.loss", loss.detach()),
                ("expect.hessian", H), ("expect.eigenvalues", eig)]
    return tensors, (net64, alphas, x64, y)


def check(cfg, H, net64, alphas, x64, y):
    """Refuse a wrong Hessian; returns the figures for the summary."""
    scale = H.abs().max().item()
    sym = (H - H.T).abs().max().item() / scale
    if not sym < SYM_TOL:
        fail("%s: Hessian not symmetric: max |H - H^T| / max |H| = %.3g" % (cfg["space"], sym))
    # each alpha row enters only through its softmax: shifting it changes nothing
    null = 0.0
    off = 0
    for a in alphas:
        for _ in range(a.shape[0]):
            ones = torch.zeros(H.shape[0], dtype=H.dtype)
            ones[off:off + a.shape[1]] = 1.0
            null = max(null, (H @ ones).abs().max().item() / scale)
            off += a.shape[1]
    if not null < NULL_TOL:
        fail("%s: the Hessian does not vanish on a softmax shift: %.3g" % (cfg["space"], null))
    # H v against central differences of the gradient along v
    saved = [a.detach().clone() for a in alphas]
    worst = 0.0
    for v in unit_directions(H.shape[0], HVP_DIRS, 5):
        grads = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for a, m in zip(alphas, moved(saved, v, sign * HVP_STEP)):
                    a.copy_(m)
            grads.append(alpha_gradient(net64, alphas, x64, y)[1])
        fd = (grads[0] - grads[1]) / (2 * HVP_STEP)
        hv = H @ v
        worst = max(worst, ((fd - hv).norm() / hv.norm()).item())
    with torch.no_grad():
        for a, s in zip(alphas, saved):
            a.copy_(s)
    if not worst < HVP_TOL:
        fail("%s: H v differs from central differences of the gradient by %.3g (relative)"
             % (cfg["space"], worst))
    return sym, null, worst


def publish(path, tensors, again, meta):
    """Write tensors to path only if a second run's tensors (again) write
    the same bytes; the written file is read back and compared bitwise."""
    assert_same(tensors, again, "non-deterministic")
    d = os.path.dirname(os.path.abspath(path))
    umask = os.umask(0)
    os.umask(umask)
    files = []
    try:
        for ts in (tensors, again):
            fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
            os.close(fd)
            files.append(tmp)
            os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes it private
            write_verified(tmp, ts, meta)
        blobs = []
        for tmp in files:
            with open(tmp, "rb") as f:
                blobs.append(f.read())
        if blobs[0] != blobs[1]:
            fail("%s: two runs write different files" % shown(path))
        os.replace(files[0], path)
    finally:
        for tmp in files:
            if os.path.exists(tmp):
                os.remove(tmp)


def generate(cfg, path):
    tensors, aux = compute(cfg)
    t = dict(tensors)
    H, eig = t["expect.hessian"], t["expect.eigenvalues"]
    sym, null, hvp = check(cfg, H, *aux)
    meta = {k: str(cfg[k]) for k in KEYS}
    meta["mode"] = "train"
    meta["alpha_init"] = "N(0,1)"
    meta["weight_decay"] = "0"
    meta["generator"] = "tests/reference/gen_hessian.py (torch %s)" % torch.__version__
    meta["precision"] = "state f32, expect f64"
    publish(path, tensors, compute(cfg)[0], meta)

    n = H.shape[0]
    nnull = sum(a.shape[0] for a in aux[1])
    small = eig.abs().sort().values
    print("%s: %s (%d bytes, n = %d)" % (describe(cfg), shown(path), os.path.getsize(path), n))
    print("  loss = %r" % t["expect.loss"].item())
    print("  eigenvalues %.6g .. %.6g; %d of them at rounding level (max |.| %.2g), "
          "next smallest |.| %.3g" % (eig[0].item(), eig[-1].item(), nnull,
                                      small[nnull - 1].item(), small[nnull].item()))
    print("  checks: asymmetry %.2e, softmax-shift residual %.2e, "
          "HVP vs FD (h=%g, %d dirs) %.2e" % (sym, null, HVP_STEP, HVP_DIRS, hvp))


def regenerate(configs, kind, generate):
    """Write <kind>_<space>.safetensors for the spaces named on the command
    line, all of configs by default."""
    spaces = sys.argv[1:] or [c["space"] for c in configs]
    known = {c["space"]: c for c in configs}
    for s in spaces:
        if s not in known:
            fail("no configuration for %s_%s.safetensors: the spaces are %s"
                 % (kind, s, ", ".join(known)))
    for s in spaces:
        generate(known[s], os.path.join(HERE, "%s_%s.safetensors" % (kind, s)))


def main():
    regenerate(CONFIGS, "hessian", generate)


if __name__ == "__main__":
    main()
