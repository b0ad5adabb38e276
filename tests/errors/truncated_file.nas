# expect: 27:19: error: unexpected end of file; expected an expression
# the spec is cut off in the middle of an expression
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
    channels   3 *