# thresholds_patch.py - run in an unpacked source tree: makes Q8A8_SW_TOKENS and
# Q5_0_ROWS_TOKENS settable through the globals g4_thr_q8 and g4_thr_q5 (0: the
# constant), for thresholds_ab.c. Not for main.
import re
p='src/cpu/kernels_x86_q8.h'; s=open(p).read()
s=s.replace('    if (n >= Q8A8_SW_TOKENS) {','    if (n >= (g4_thr_q8 ? g4_thr_q8 : Q8A8_SW_TOKENS)) {')
s=s.replace('#define Q8A8_SW_TOKENS 10\n','#define Q8A8_SW_TOKENS 10\nextern int g4_thr_q8;\n')
open(p,'w').write(s)
p='src/cpu/kernels_x86_kquant.h'; s=open(p).read()
s=s.replace('    if (n <= Q5_0_ROWS_TOKENS) { matvec_q5_0','    if (n <= (g4_thr_q5 ? g4_thr_q5 : Q5_0_ROWS_TOKENS)) { matvec_q5_0')
s=s.replace('#define Q5_0_ROWS_TOKENS 5\n','#define Q5_0_ROWS_TOKENS 5\nextern int g4_thr_q5;\n')
open(p,'w').write(s)
p='src/cpu/cpu.c'; s=open(p).read()
s=s.replace('#define MV_UNITS 128\n','#define MV_UNITS 128\nint g4_thr_q8, g4_thr_q5;\n')
open(p,'w').write(s)
