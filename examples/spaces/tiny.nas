# A space small enough to enumerate: one intermediate node per cell, so two
# edges per cell, each choosing among three candidates.  With a normal and
# a reduction cell that is 3^2 * 3^2 = 81 discrete architectures, so a test
# can train or score every one of them and compare with what the search
# picks.  The operations are those of the DARTS space (darts.nas).

param C       = 8         # channels of the first cell
param layers  = 3         # normal, reduce, reduce
param input   = 1x28x28
param classes = 10
param batch   = 32
param epochs  = 10

op fact_reduce  = relu -> concat(conv(C // 2, 1, stride=2),
                                 shift(1) -> conv(C // 2, 1, stride=2)) -> bn
op skip_connect = if stride == 1 then identity else fact_reduce
op avg_pool_3x3 = avg_pool(3, stride, 1, count_pad=false) -> bn
op sep_conv_3x3 = relu -> conv(C, 3, stride, 1, groups=C) -> conv(C, 1) -> bn
               -> relu -> conv(C, 3, 1, 1, groups=C) -> conv(C, 1) -> bn
op preprocess   = if stride == 1 then relu -> conv(C, 1) -> bn else fact_reduce

cell normal {
    nodes 1              # state 2 = edge 0 -> 2 + edge 1 -> 2
    ops   skip_connect, avg_pool_3x3, sep_conv_3x3
    keep  2
}

cell reduce : normal {
    stride 2
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
    order      first
    weights    sgd(lr=0.025, lr_min=0.001, momentum=0.9, clip=5)
    arch       adam(lr=3e-4, beta1=0.5, beta2=0.999, weight_decay=1e-3)
    l2         3e-4
    hessian    exact(every=1)
    controller none
}
