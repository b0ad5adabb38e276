"""Write tensors.json: every weight tensor of the PyTorch search network, in
the order PyTorch registers them, with its shape, for a few small
configurations.  The fixture for the canonical tensor order of nasc's state
files: tests/unit_counts checks that the weights of the compiled spec come
in the same order with the same shapes, tensor by tensor, and the PyTorch
names here are the map the gradient fixtures will use.

Run with the Debian interpreter and python3-torch:
    /usr/bin/python3 tests/reference/gen_tensors.py
"""
import json
import os

import torch

import supernet as sn

HERE = os.path.dirname(os.path.abspath(__file__))

CONFIGS = [
    dict(space="darts", C=4, layers=5, nodes=4, input="1x28x28", classes=10),
    dict(space="s1", C=4, layers=4, nodes=4, input="3x32x32", classes=10),
    dict(space="s3", C=6, layers=3, nodes=3, input="1x28x28", classes=100),
    dict(space="s4", C=4, layers=6, nodes=2, input="3x32x32", classes=10),
]


def record(cfg):
    shape = [int(d) for d in cfg["input"].split("x")]
    net = sn.Network(cfg["C"], cfg["layers"], cfg["nodes"], shape[0], cfg["classes"],
                     cfg["space"])
    arch = {id(p) for p in net.arch_parameters()}
    weights = [[name, list(p.shape)] for name, p in net.named_parameters()
               if id(p) not in arch]
    alphas = [["alpha.normal", list(net.alphas_normal.shape)],
              ["alpha.reduce", list(net.alphas_reduce.shape)]]
    return dict(cfg, weights=weights, alphas=alphas)


def main():
    out = {"generator": "tests/reference/gen_tensors.py (torch %s)" % torch.__version__,
           "configs": [record(c) for c in CONFIGS]}
    with open(os.path.join(HERE, "tensors.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
