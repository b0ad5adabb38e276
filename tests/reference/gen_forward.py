"""Write forward_<space>.safetensors: forward-pass fixtures for checking a C
interpreter of nasc's graph IR against PyTorch.

Each file holds, in this order: every weight tensor (named with nasc's name,
in nasc's = PyTorch's named_parameters order), alpha.normal, alpha.reduce,
the input batch x, the labels y, and the expected logits and mean
cross-entropy loss of the network in TRAINING mode (batch-norm uses batch
statistics), all computed in float64.

Run from anywhere with the Debian interpreter and python3-torch (needs a
built ./nasc at the repo root, or NASC=/path/to/nasc):
    /usr/bin/python3 tests/reference/gen_forward.py

gen_grad.py and gen_eval.py import the helpers here (nasc_dump,
nasc_tensors, matched_tensors and the safetensors reader and writer).
"""
import json
import os
import re
import struct
import subprocess
import sys

import torch
import torch.nn.functional as F

import supernet as sn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
NASC = os.path.abspath(os.environ.get("NASC") or os.path.join(ROOT, "nasc"))

CONFIGS = [
    dict(space="darts", C=4, layers=3, nodes=2, input="1x8x8", classes=10, batch=3),
    dict(space="s3", C=4, layers=3, nodes=3, input="3x8x8", classes=5, batch=2),
]

WEIGHT_RE = re.compile(r'= weight "([^"]+)" : f32\[([0-9,]*)\]')
ALPHA_RE = re.compile(r'= alpha "([^"]+)" : f32\[([0-9,]*)\]')
DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
ST_DTYPES = {v: k for k, v in DTYPES.items()}


def fail(msg):
    # prefixed with the script that was run (gen_grad.py uses this too)
    sys.exit("%s: %s" % (os.path.basename(sys.argv[0]) or "gen_forward.py", msg))


def shape_of(s):
    return [int(d) for d in s.split(",")] if s else []


def nasc_dump(cfg):
    """The text of `nasc dump --after=sema` for cfg."""
    if not os.access(NASC, os.X_OK):
        fail("no nasc binary at %s: build it, or point NASC at one" % NASC)
    cmd = [NASC, "dump", "--after=sema"]
    for k in ("C", "layers", "nodes", "input", "classes", "batch"):
        # S1 lists its 14 edges one by one: it has 4 nodes and no knob
        if not (k == "nodes" and cfg["space"] == "s1"):
            cmd += ["-D", "%s=%s" % (k, cfg[k])]
    cmd.append("examples/spaces/%s.nas" % cfg["space"])
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        fail("%s failed (%d):\n%s" % (" ".join(cmd), r.returncode, r.stderr))
    return r.stdout


def nasc_tensors(cfg):
    """(weights, alphas) as lists of (name, shape) from `nasc dump --after=sema`."""
    out = nasc_dump(cfg)
    weights = [(m.group(1), shape_of(m.group(2))) for m in WEIGHT_RE.finditer(out)]
    alphas = [(m.group(1), shape_of(m.group(2))) for m in ALPHA_RE.finditer(out)]
    return weights, alphas


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for name, t in tensors:
        t = t.detach().contiguous().cpu()
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Minimal reader: returns (metadata, [(name, tensor)]) in header order.
    F32, F64 and I64 only; tensors must be stored in header order, packed."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    assert n % 8 == 0, "header length not a multiple of 8"
    header = json.loads(raw[8:8 + n].decode())
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    out, off = [], 0
    for name, e in header.items():
        b, end = e["data_offsets"]
        assert b == off, "%s: offsets not contiguous (%d != %d)" % (name, b, off)
        assert e["dtype"] in ST_DTYPES, "%s: unsupported dtype %s" % (name, e["dtype"])
        dt = ST_DTYPES[e["dtype"]]
        count = 1
        for d in e["shape"]:
            count *= d
        assert end - b == count * torch.empty((), dtype=dt).element_size(), \
            "%s: size mismatch" % name
        t = torch.frombuffer(bytearray(data[b:end]), dtype=dt).reshape(e["shape"]) \
            if count else torch.zeros(e["shape"], dtype=dt)
        out.append((name, t))
        off = end
    assert off == len(data), "trailing bytes after last tensor"
    return meta, out


def build(cfg):
    shape = [int(d) for d in cfg["input"].split("x")]
    torch.manual_seed(0)
    net = sn.Network(cfg["C"], cfg["layers"], cfg["nodes"], shape[0], cfg["classes"],
                     cfg["space"]).double()
    net.train()
    # Alphas as a search leaves them, not as it starts (1e-3 N(0,1) would
    # mix the candidates almost uniformly and hide a wrong mixture).
    torch.manual_seed(3)
    with torch.no_grad():
        net.alphas_normal.normal_(0.0, 1.0)
        net.alphas_reduce.normal_(0.0, 1.0)
    torch.manual_seed(1)
    x = torch.randn(cfg["batch"], *shape, dtype=torch.float64)
    torch.manual_seed(2)
    y = torch.randint(cfg["classes"], (cfg["batch"],))
    with torch.no_grad():
        logits = net(x)
        loss = F.cross_entropy(logits, y)
    return net, x, y, logits, loss


def matched_tensors(cfg, net):
    """[(nasc name, PyTorch parameter)]: every weight, then alpha.normal and
    alpha.reduce, after checking that nasc's weights (`nasc dump
    --after=sema`) come in PyTorch's named_parameters order with the same
    shapes, and that nasc has the same two alphas."""
    arch = {id(p) for p in net.arch_parameters()}
    pt = [(n, p) for n, p in net.named_parameters() if id(p) not in arch]
    names, alphas = nasc_tensors(cfg)
    if len(names) != len(pt):
        fail("%s: nasc has %d weights, PyTorch %d" % (cfg["space"], len(names), len(pt)))
    for i, ((nn_, ns), (pn, p)) in enumerate(zip(names, pt)):
        if ns != list(p.shape):
            fail("%s: weight %d: nasc %s %s vs PyTorch %s %s"
                 % (cfg["space"], i, nn_, ns, pn, list(p.shape)))
    want_alphas = [("alpha.normal", list(net.alphas_normal.shape)),
                   ("alpha.reduce", list(net.alphas_reduce.shape))]
    if alphas != want_alphas:
        fail("%s: nasc alphas %s vs PyTorch %s" % (cfg["space"], alphas, want_alphas))
    if len(set(n for n, _ in names)) != len(names):
        fail("%s: duplicate nasc weight names" % cfg["space"])
    return [(n, p) for (n, _), (_, p) in zip(names, pt)] + \
        [("alpha.normal", net.alphas_normal), ("alpha.reduce", net.alphas_reduce)]


def generate(cfg):
    net, x, y, logits, loss = build(cfg)
    tensors = matched_tensors(cfg, net)
    nweights = len(tensors) - 2
    tensors += [("x", x), ("y", y), ("expect.logits", logits), ("expect.loss", loss)]
    meta = {k: str(cfg[k]) for k in ("space", "C", "layers", "nodes", "input",
                                     "classes", "batch")}
    meta["mode"] = "train"
    meta["generator"] = "tests/reference/gen_forward.py (torch %s)" % torch.__version__
    path = os.path.join(HERE, "forward_%s.safetensors" % cfg["space"])
    write_safetensors(path, tensors, meta)

    # verify: re-read and compare bitwise
    rmeta, back = read_safetensors(path)
    assert rmeta == meta, "metadata mismatch"
    assert [n for n, _ in back] == [n for n, _ in tensors], "name/order mismatch"
    for (n, a), (_, b) in zip(tensors, back):
        a = a.detach()
        assert a.dtype == b.dtype and list(a.shape) == list(b.shape), n
        assert a.contiguous().view(-1).numpy().tobytes() == b.reshape(-1).numpy().tobytes(), \
            "%s: data mismatch" % n
    # determinism: a fresh build gives bitwise-identical logits/loss
    _, _, _, logits2, loss2 = build(cfg)
    assert torch.equal(logits, logits2) and torch.equal(loss, loss2), "non-deterministic"

    print("%s: %s (%d bytes, %d weights + 2 alphas)"
          % (cfg["space"], os.path.relpath(path, ROOT), os.path.getsize(path), nweights))
    print("  loss      = %r" % loss.item())
    print("  logits[0] = %s" % [float(v) for v in logits[0]])


def main():
    for cfg in CONFIGS:
        generate(cfg)


if __name__ == "__main__":
    main()
