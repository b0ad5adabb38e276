"""PyTorch reference for the nasc DARTS-style search network (supernet).

This is the ground truth that `nasc info --json` (and later loss/gradient
fixtures) is checked against.  It is deliberately plain PyTorch so that
every shape and parameter can be audited by eye.

Spaces: "darts" (8 ops on every edge) and the RobustDARTS spaces s1-s4.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

DARTS_OPS = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
             "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]

# S1 fixes a different 2-op pair per edge (14 edges, so 4 nodes only).
S1_NORMAL = [
    ["skip_connect", "dil_conv_3x3"], ["skip_connect", "dil_conv_5x5"],
    ["skip_connect", "dil_conv_5x5"], ["skip_connect", "sep_conv_3x3"],
    ["skip_connect", "dil_conv_3x3"], ["max_pool_3x3", "skip_connect"],
    ["skip_connect", "sep_conv_3x3"], ["skip_connect", "sep_conv_3x3"],
    ["skip_connect", "dil_conv_3x3"], ["skip_connect", "sep_conv_3x3"],
    ["max_pool_3x3", "skip_connect"], ["skip_connect", "dil_conv_3x3"],
    ["dil_conv_3x3", "dil_conv_5x5"], ["dil_conv_3x3", "dil_conv_5x5"],
]
S1_REDUCE = [
    ["max_pool_3x3", "avg_pool_3x3"], ["max_pool_3x3", "dil_conv_3x3"],
    ["max_pool_3x3", "avg_pool_3x3"], ["max_pool_3x3", "avg_pool_3x3"],
    ["skip_connect", "dil_conv_5x5"], ["max_pool_3x3", "avg_pool_3x3"],
    ["max_pool_3x3", "sep_conv_3x3"], ["skip_connect", "dil_conv_3x3"],
    ["skip_connect", "dil_conv_5x5"], ["max_pool_3x3", "avg_pool_3x3"],
    ["max_pool_3x3", "avg_pool_3x3"], ["skip_connect", "dil_conv_5x5"],
    ["skip_connect", "dil_conv_5x5"], ["skip_connect", "dil_conv_5x5"],
]
UNIFORM_SPACES = {
    "darts": DARTS_OPS,
    "s2": ["skip_connect", "sep_conv_3x3"],
    "s3": ["none", "skip_connect", "sep_conv_3x3"],
    "s4": ["noise", "sep_conv_3x3"],
}
SPACES = sorted(list(UNIFORM_SPACES) + ["s1"])


def num_edges(nodes):
    # node i has one incoming edge from each of the i+2 earlier states
    return sum(i + 2 for i in range(nodes))


def edge_ops(space, nodes):
    """Per-edge candidate op names: (normal, reduce), each a list per edge."""
    n = num_edges(nodes)
    if space == "s1":
        if nodes != 4:
            raise ValueError("space s1 is defined for nodes=4 only")
        return S1_NORMAL, S1_REDUCE
    ops = UNIFORM_SPACES[space]
    return [ops] * n, [ops] * n


# ---------------------------------------------------------------- ops

class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        # keep the graph connected (x*0) so gradients are exact zeros, not None
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


class Noise(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return torch.randn_like(x[:, :, ::self.stride, ::self.stride])


class ReLUConvBN(nn.Sequential):
    def __init__(self, C_in, C_out, k, stride, pad):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, k, stride, pad, bias=False),
            nn.BatchNorm2d(C_out, affine=False))


class DilConv(nn.Sequential):
    def __init__(self, C, k, stride, pad, dil):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C, C, k, stride, pad, dilation=dil, groups=C, bias=False),
            nn.Conv2d(C, C, 1, bias=False),
            nn.BatchNorm2d(C, affine=False))


class SepConv(nn.Sequential):
    # two stacked depthwise-separable blocks; only the first one strides
    def __init__(self, C, k, stride):
        p = k // 2
        super().__init__(DilConv(C, k, stride, p, 1), DilConv(C, k, 1, p, 1))


class FactorizedReduce(nn.Module):
    """Halve H and W with two offset 1x1 stride-2 convs (each gives C_out/2)."""

    def __init__(self, C_in, C_out):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=False)

    def forward(self, x):
        x = self.relu(x)
        # on odd H/W the two branches disagree in size and torch.cat raises
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], 1))


OPS = {
    "none": lambda C, s: Zero(s),
    "noise": lambda C, s: Noise(s),
    "max_pool_3x3": lambda C, s: nn.Sequential(
        nn.MaxPool2d(3, s, padding=1), nn.BatchNorm2d(C, affine=False)),
    "avg_pool_3x3": lambda C, s: nn.Sequential(
        nn.AvgPool2d(3, s, padding=1, count_include_pad=False),
        nn.BatchNorm2d(C, affine=False)),
    "skip_connect": lambda C, s: nn.Identity() if s == 1 else FactorizedReduce(C, C),
    "sep_conv_3x3": lambda C, s: SepConv(C, 3, s),
    "sep_conv_5x5": lambda C, s: SepConv(C, 5, s),
    "dil_conv_3x3": lambda C, s: DilConv(C, 3, s, 2, 2),
    "dil_conv_5x5": lambda C, s: DilConv(C, 5, s, 4, 2),
}


class MixedOp(nn.Module):
    def __init__(self, C, stride, names):
        super().__init__()
        self.ops = nn.ModuleList(OPS[n](C, stride) for n in names)

    def forward(self, x, weights):
        return sum(w * op(x) for w, op in zip(weights, self.ops))


# ---------------------------------------------------------------- cell / net

class Cell(nn.Module):
    def __init__(self, nodes, C_pp, C_p, C, reduction, reduction_prev, ops_per_edge):
        super().__init__()
        self.nodes = nodes
        # the previous reduction halved s1 but not s0: bring s0 down to match
        if reduction_prev:
            self.pre0 = FactorizedReduce(C_pp, C)
        else:
            self.pre0 = ReLUConvBN(C_pp, C, 1, 1, 0)
        self.pre1 = ReLUConvBN(C_p, C, 1, 1, 0)
        self.edges = nn.ModuleList()
        e = 0
        for i in range(nodes):
            for j in range(i + 2):
                # only edges leaving the two cell inputs downsample
                stride = 2 if reduction and j < 2 else 1
                self.edges.append(MixedOp(C, stride, ops_per_edge[e]))
                e += 1

    def forward(self, s0, s1, weights):
        states = [self.pre0(s0), self.pre1(s1)]
        e = 0
        for _ in range(self.nodes):
            n = len(states)
            states.append(sum(self.edges[e + j](h, weights[e + j])
                              for j, h in enumerate(states)))
            e += n
        return torch.cat(states[2:], dim=1)


class Network(nn.Module):
    def __init__(self, C=16, layers=8, nodes=4, in_ch=3, classes=10, space="darts"):
        super().__init__()
        normal_ops, reduce_ops = edge_ops(space, nodes)
        C_curr = 3 * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_ch, C_curr, 3, padding=1, bias=False),
            nn.BatchNorm2d(C_curr))
        C_pp, C_p, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            self.cells.append(Cell(nodes, C_pp, C_p, C_curr, reduction, reduction_prev,
                                   reduce_ops if reduction else normal_ops))
            self.cells[-1].reduction = reduction
            reduction_prev = reduction
            C_pp, C_p = C_p, nodes * C_curr
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_p, classes)
        # architecture weights, one [edges, ops] table per cell type
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(len(normal_ops), len(normal_ops[0])))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(len(reduce_ops), len(reduce_ops[0])))

    def arch_parameters(self):
        return [self.alphas_normal, self.alphas_reduce]

    def weight_parameters(self):
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def forward(self, x):
        s0 = s1 = self.stem(x)
        w_normal = F.softmax(self.alphas_normal, dim=-1)
        w_reduce = F.softmax(self.alphas_reduce, dim=-1)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w_reduce if cell.reduction else w_normal)
        return self.classifier(self.pool(s1).flatten(1))


# ---------------------------------------------------------------- counting

def weight_param_count(net):
    return sum(p.numel() for p in net.weight_parameters())


def alpha_size(net):
    return sum(p.numel() for p in net.arch_parameters())


def conv_linear_flops(net, input_shape):
    """FLOPs of one sample's forward pass (2 per multiply-add), Conv2d and
    Linear only, measured from the real output shapes via forward hooks."""
    total = 0

    def conv_hook(m, inp, out):
        nonlocal total
        _, c_out, h, w = out.shape
        kh, kw = m.kernel_size
        total += 2 * c_out * h * w * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m, inp, out):
        nonlocal total
        total += 2 * m.in_features * m.out_features

    hooks = []
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    try:
        net.eval()
        with torch.no_grad():
            net(torch.zeros(1, *input_shape))
    finally:
        for h in hooks:
            h.remove()
    return total
