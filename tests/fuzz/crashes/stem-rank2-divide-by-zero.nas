# A stem that ends in rank-2 features: build_cell divides by the input's
# height (0 for a [batch, features] tensor) -> SIGFPE in compiler/network.c.
cell normal {
    nodes 1
    ops   identity
    keep  1
}

network {
    input      1x8x8
    channels   4
    stem       global_avg_pool
    cells      1, normal
    preprocess identity
    head       global_avg_pool -> linear(2)
}
