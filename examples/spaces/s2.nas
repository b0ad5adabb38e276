# Search space S2 of RobustDARTS: Zela, Elsken, Saikia, Marrakchi, Brox and
# Hutter, "Understanding and Robustifying Differentiable Architecture
# Search", ICLR 2020, section 3.  It keeps the DARTS search network and
# changes only the candidates: {skip_connect, sep_conv_3x3} on every edge.
#
# The defaults fit Fashion-MNIST (1x28x28, 10 classes).  The paper's
# CIFAR-10 setting is
#   nasc info -D input=3x32x32 examples/spaces/s2.nas

param C       = 16        # channels of the first cell
param layers  = 8         # cells in the network
param nodes   = 4         # intermediate nodes per cell
param input   = 1x28x28   # one image: channels x height x width
param classes = 10
param batch   = 64
param epochs  = 50

# Candidate operations.  In an op body, C and stride are the edge's.
op none         = zero                # zeros, subsampled at stride 2
op max_pool_3x3 = max_pool(3, stride, 1) -> bn
op avg_pool_3x3 = avg_pool(3, stride, 1, count_pad=false) -> bn
op fact_reduce  = relu -> concat(conv(C // 2, 1, stride=2),
                                 shift(1) -> conv(C // 2, 1, stride=2)) -> bn
op skip_connect = if stride == 1 then identity else fact_reduce
op sep_conv(k)  = relu -> conv(C, k, stride, k // 2, groups=C) -> conv(C, 1) -> bn
               -> relu -> conv(C, k, 1, k // 2, groups=C) -> conv(C, 1) -> bn
op dil_conv(k)  = relu -> conv(C, k, stride, k - 1, dilation=2, groups=C)
               -> conv(C, 1) -> bn
op sep_conv_3x3 = sep_conv(3)
op sep_conv_5x5 = sep_conv(5)
op dil_conv_3x3 = dil_conv(3)
op dil_conv_5x5 = dil_conv(5)

# Cell inputs: stride is 2 for an input twice the cell's resolution (the
# output of the cell before a reduction cell), else 1.
op preprocess   = if stride == 1 then relu -> conv(C, 1) -> bn else fact_reduce

cell normal {
    nodes   nodes
    ops     skip_connect, sep_conv_3x3
    keep    2
    exclude none
}

# Reduction cell: edges leaving the cell inputs have stride 2.
cell reduce : normal {
    stride  2
}

network {
    input      input
    channels   C
    stem       conv(3 * C, 3, pad=1) -> bn(affine=true)
    cells      layers, normal
    cells      reduce, at=[layers // 3, 2 * layers // 3]
    preprocess preprocess
    head       global_avg_pool -> linear(classes)
}

search {
    epochs     epochs
    batch      batch
    split      0.5                # of the training set, for the weights
    order      first
    weights    sgd(lr=0.025, lr_min=0.001, momentum=0.9, clip=5)
    arch       adam(lr=3e-4, beta1=0.5, beta2=0.999, weight_decay=1e-3)
    l2         3e-4               # weight decay of the weights
    drop_path  0.0
    cutout     0.0, length=16
    hessian    exact(every=2)
    controller es(factor=1.3, window=5, k=4, start=10)
}
