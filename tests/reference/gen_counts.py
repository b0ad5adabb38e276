"""Write counts.json: exact parameter / alpha / FLOP counts of the search
network for a grid of configurations, the fixture for `nasc info --json`.

Run with the Debian interpreter and python3-torch:
    /usr/bin/python3 tests/reference/gen_counts.py
"""
import itertools
import json
import os
import time

import torch

import supernet as sn

HERE = os.path.dirname(os.path.abspath(__file__))

# Published totals for C=16, layers=8, 3x32x32, 10 classes, 4 nodes;
# a mismatch means the reference itself is wrong, so refuse to write.
KNOWN = {"darts": (1930618, 224), "s1": (405146, 56), "s2": (665466, 56),
         "s3": (665466, 84), "s4": (624506, 56)}

GRID = dict(space=["darts", "s1", "s2", "s3", "s4"], C=[4, 8, 16], layers=[3, 5, 8],
            nodes=[3, 4], input=["1x28x28", "3x32x32"], classes=[10, 100])


def configs():
    known = [dict(space=s, C=16, layers=8, nodes=4, input="3x32x32", classes=10)
             for s in KNOWN]
    grid = [dict(zip(GRID, v)) for v in itertools.product(*GRID.values())]
    grid = [c for c in grid if not (c["space"] == "s1" and c["nodes"] != 4)]
    seen, out = set(), []
    for c in known + grid:
        key = tuple(c.values())
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def measure(cfg):
    shape = [int(v) for v in cfg["input"].split("x")]
    net = sn.Network(cfg["C"], cfg["layers"], cfg["nodes"], shape[0],
                     cfg["classes"], cfg["space"])
    return dict(cfg, weight_params=sn.weight_param_count(net),
                alpha_size=sn.alpha_size(net),
                conv_linear_flops=sn.conv_linear_flops(net, shape))


def main():
    torch.manual_seed(0)  # only the noise op draws numbers; counts don't depend on it
    t0 = time.time()
    records, invalid = [], []
    for cfg in configs():
        try:
            records.append(measure(cfg))
        except RuntimeError as e:
            invalid.append(dict(cfg, reason=str(e).splitlines()[0]))

    for space, (params, alphas) in KNOWN.items():
        rec = next(r for r in records if r["space"] == space and r["C"] == 16
                   and r["layers"] == 8 and r["nodes"] == 4
                   and r["input"] == "3x32x32" and r["classes"] == 10)
        got = (rec["weight_params"], rec["alpha_size"])
        assert got == (params, alphas), f"{space}: got {got}, want {(params, alphas)}"

    out = {"generator": f"tests/reference/gen_counts.py (torch {torch.__version__})",
           "records": records, "invalid": invalid}
    with open(os.path.join(HERE, "counts.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"{len(records)} records, {len(invalid)} invalid, {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
