# Search space S1 of RobustDARTS: Zela, Elsken, Saikia, Marrakchi, Brox and
# Hutter, "Understanding and Robustifying Differentiable Architecture
# Search", ICLR 2020, section 3.  It keeps the DARTS search network and
# changes only the candidates: a fixed pair of candidates per
# edge, different in the normal and the reduction cell: the two strongest
# operations of a DARTS search.
#
# The defaults fit Fashion-MNIST (1x28x28, 10 classes).  The paper's
# CIFAR-10 setting is
#   nasc info -D input=3x32x32 examples/spaces/s1.nas

param C       = 16        # channels of the first cell
param layers  = 8         # cells in the network
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

# The edges are listed one by one, each with its own pair of candidates
# (the pairs are those of the RobustDARTS reference code, edge i of the
# DARTS order in the comment), so S1 has 4 nodes only.
cell normal {
    nodes   4
    edge 0 -> 2 : skip_connect, dil_conv_3x3  # 0
    edge 1 -> 2 : skip_connect, dil_conv_5x5  # 1
    edge 0 -> 3 : skip_connect, dil_conv_5x5  # 2
    edge 1 -> 3 : skip_connect, sep_conv_3x3  # 3
    edge 2 -> 3 : skip_connect, dil_conv_3x3  # 4
    edge 0 -> 4 : max_pool_3x3, skip_connect  # 5
    edge 1 -> 4 : skip_connect, sep_conv_3x3  # 6
    edge 2 -> 4 : skip_connect, sep_conv_3x3  # 7
    edge 3 -> 4 : skip_connect, dil_conv_3x3  # 8
    edge 0 -> 5 : skip_connect, sep_conv_3x3  # 9
    edge 1 -> 5 : max_pool_3x3, skip_connect  # 10
    edge 2 -> 5 : skip_connect, dil_conv_3x3  # 11
    edge 3 -> 5 : dil_conv_3x3, dil_conv_5x5  # 12
    edge 4 -> 5 : dil_conv_3x3, dil_conv_5x5  # 13
    keep    2
    exclude none
}

cell reduce : normal {
    stride  2            # edges leaving the cell inputs
    edge 0 -> 2 : max_pool_3x3, avg_pool_3x3  # 0
    edge 1 -> 2 : max_pool_3x3, dil_conv_3x3  # 1
    edge 0 -> 3 : max_pool_3x3, avg_pool_3x3  # 2
    edge 1 -> 3 : max_pool_3x3, avg_pool_3x3  # 3
    edge 2 -> 3 : skip_connect, dil_conv_5x5  # 4
    edge 0 -> 4 : max_pool_3x3, avg_pool_3x3  # 5
    edge 1 -> 4 : max_pool_3x3, sep_conv_3x3  # 6
    edge 2 -> 4 : skip_connect, dil_conv_3x3  # 7
    edge 3 -> 4 : skip_connect, dil_conv_5x5  # 8
    edge 0 -> 5 : max_pool_3x3, avg_pool_3x3  # 9
    edge 1 -> 5 : max_pool_3x3, avg_pool_3x3  # 10
    edge 2 -> 5 : skip_connect, dil_conv_5x5  # 11
    edge 3 -> 5 : skip_connect, dil_conv_5x5  # 12
    edge 4 -> 5 : skip_connect, dil_conv_5x5  # 13
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
