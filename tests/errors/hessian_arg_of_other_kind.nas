# expect: 40:31: error: `exact` has no argument `iters`
# an argument that belongs to another `hessian` kind
param C      = 4
param layers = 3
param nodes  = 2
param input  = 1x16x16

op fact_reduce  = relu -> concat(conv(C // 2, 1, stride=2),
                                 shift(1) -> conv(C // 2, 1, stride=2)) -> bn
op skip_connect = if stride == 1 then identity else fact_reduce
op avg_pool_3x3 = avg_pool(3, stride, 1, count_pad=false) -> bn
op sep_conv_3x3 = relu -> conv(C, 3, stride, 1, groups=C) -> conv(C, 1) -> bn
op preprocess   = if stride == 1 then relu -> conv(C, 1) -> bn else fact_reduce

cell normal {
    nodes nodes
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
    cells      reduce, at=[1, 2]
    preprocess preprocess
    head       global_avg_pool -> linear(10)
}

search {
    epochs     10
    batch      8
    split      0.5
    weights    sgd(lr=0.025, lr_min=0.001, momentum=0.9)
    hessian    exact(every=2, iters=10)
    controller es(factor=1.3)
}
