#!/usr/bin/env sh
# Prints the CPU level the encoder kernels are built for on this machine (LLATTE_CPU):
# x86-64-v3 when the CPU has AVX2, FMA and the rest of that level, else portable.
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
for f in avx avx2 fma bmi1 bmi2 f16c movbe abm; do
  case " $flags " in *" $f "*) ;; *) echo portable; exit 0 ;; esac
done
echo x86-64-v3
