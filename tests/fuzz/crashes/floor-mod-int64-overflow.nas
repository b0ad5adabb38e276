# Floor modulo: `c = a - c * b` in compiler/eval.c (arith, OP_MOD) overflows
# int64 when the floored quotient times the divisor passes INT64_MIN/MAX.
# Undefined behaviour; UBSan reports it (the plain build wraps).
param x = (-9223372036854775807 - 1) % 3
param y = 9223372036854775807 % -2
