# Each op expands the one before it twice.  `identity` adds no graph node,
# so the supernet's node budget (SEMA_MAX_IR_NODES) never trips and nothing
# else bounds the work: 2^22 expansions of a0, each allocating its
# environment from the arena (compiler/expand.c apply_op), so time and
# memory double with every op added (40 ops: hours and ~10^14 bytes).
op a0 = identity
op a1 = a0 -> a0
op a2 = a1 -> a1
op a3 = a2 -> a2
op a4 = a3 -> a3
op a5 = a4 -> a4
op a6 = a5 -> a5
op a7 = a6 -> a6
op a8 = a7 -> a7
op a9 = a8 -> a8
op a10 = a9 -> a9
op a11 = a10 -> a10
op a12 = a11 -> a11
op a13 = a12 -> a12
op a14 = a13 -> a13
op a15 = a14 -> a14
op a16 = a15 -> a15
op a17 = a16 -> a16
op a18 = a17 -> a17
op a19 = a18 -> a18
op a20 = a19 -> a19
op a21 = a20 -> a20
op a22 = a21 -> a21

cell normal {
    nodes 1
    ops   a22
    keep  1
}

network {
    input      1x8x8
    channels   4
    stem       conv(C, 3, pad=1)
    cells      1, normal
    preprocess identity
    head       global_avg_pool -> linear(2)
}
