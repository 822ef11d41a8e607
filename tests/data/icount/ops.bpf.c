/* ops.bpf.c - every instruction kind bench/icount interprets that the
 * benchmark programs may not contain (cpu v4: sdiv/smod, movsx, bswap,
 * sign-extending loads, gotol, may_goto; division by zero; atomics; 32-bit
 * forms), applied to two 64-bit operands a and b from the request, each
 * result stored over the request.  tests/t-icount.sh runs it under icount,
 * whose every request is checked against the kernel's run of the same
 * frame: the kernel decides what each instruction means.
 * Built with clang-19 -mcpu=v4 (inline asm pins the exact instructions). */
#include <linux/bpf.h>

typedef unsigned long long u64;
typedef unsigned int u32;

#define OUT_SLOTS 56
#define OP64(insn, a, b) ({ u64 _d = (a), _s = (b); asm volatile(insn : "+r"(_d) : "r"(_s)); _d; })
#define OP32(insn, a, b) ({ u32 _d = (a), _s = (b); asm volatile(insn : "+w"(_d) : "w"(_s)); (u64)_d; })
/* An atomic on the .bss cell (atomics need a map value or the stack). */
#define ATOMIC(insn, init, v) ({ u64 _v = (v); cell = (init); \
	asm volatile(insn : "+r"(_v) : "r"(&cell) : "memory"); _v ^ cell << 1; })
#define ATOMIC32(insn, init, v) ({ u32 _v = (v); cell = (init); \
	asm volatile(insn : "+w"(_v) : "r"(&cell) : "memory"); _v ^ cell << 1; })

static volatile u64 cell;

__attribute__((section("xdp"), used)) int icount_ops(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (data + 42 + 16 + 8 * OUT_SLOTS > end)
		return XDP_DROP;
	u64 *p = (u64 *)(data + 42), a = p[0], b = p[1];
	int i = 2;
	/* Division and modulo, 64 and 32 bits, signed and not, by 0 and -1 too. */
	p[i++] = OP64("%0 s/= %1", a, b);
	p[i++] = OP64("%0 s%%= %1", a, b);
	p[i++] = OP64("%0 /= %1", a, b);
	p[i++] = OP64("%0 %%= %1", a, b);
	p[i++] = OP32("%0 s/= %1", a, b);
	p[i++] = OP32("%0 s%%= %1", a, b);
	p[i++] = OP32("%0 /= %1", a, b);
	p[i++] = OP32("%0 %%= %1", a, b);
	p[i++] = OP64("%0 s/= -1", a, b);
	p[i++] = OP64("%0 s%%= -3", a, b);
	p[i++] = OP32("%0 s/= -1", a, b);
	p[i++] = OP32("%0 s%%= -3", a, b);
	/* Shifts by a register (masked) and arithmetic shifts. */
	p[i++] = OP64("%0 s>>= %1", a, b & 63);
	p[i++] = OP32("%0 s>>= %1", a, b & 31);
	p[i++] = OP64("%0 <<= %1", a, b & 63);
	p[i++] = OP32("%0 >>= %1", a, b & 31);
	p[i++] = OP64("%0 = -%0", a, b);
	p[i++] = OP32("%0 = -%0", a, b);
	p[i++] = OP32("%0 *= %1", a, b);
	p[i++] = OP32("%0 -= %1", a, b);
	/* movsx, 64 and 32 bits. */
	p[i++] = OP64("%0 = (s8)%1", a, b);
	p[i++] = OP64("%0 = (s16)%1", a, b);
	p[i++] = OP64("%0 = (s32)%1", a, b);
	p[i++] = OP32("%0 = (s8)%1", a, b);
	p[i++] = OP32("%0 = (s16)%1", a, b);
	/* Byte swaps: unconditional (ALU64) and to big/little endian (ALU). */
	p[i++] = OP64("%0 = bswap16 %0", a, b);
	p[i++] = OP64("%0 = bswap32 %0", a, b);
	p[i++] = OP64("%0 = bswap64 %0", a, b);
	p[i++] = OP64("%0 = be16 %0", a, b);
	p[i++] = OP64("%0 = be32 %0", a, b);
	p[i++] = OP64("%0 = be64 %0", a, b);
	p[i++] = OP64("%0 = le16 %0", a, b);
	p[i++] = OP64("%0 = le32 %0", a, b);
	/* Sign-extending loads (the request's bytes at p[1]). */
	p[i++] = OP64("%0 = *(s8 *)(%1 + 8)", a, (u64)(long)p);
	p[i++] = OP64("%0 = *(s16 *)(%1 + 9)", a, (u64)(long)p);
	p[i++] = OP64("%0 = *(s32 *)(%1 + 11)", a, (u64)(long)p);
	/* 32-bit compares: signed and unsigned views of the low halves. */
	p[i++] = OP32("if %0 s< %1 goto +1; %0 = 2", a, b);
	p[i++] = OP64("if %0 s> %1 goto +1; %0 = 7", a, b);
	p[i++] = OP64("if %0 & %1 goto +1; %0 = 9", a, b);
	p[i++] = OP32("if %0 < %1 goto +1; %0 = 11", a, b);
	p[i++] = OP32("if %0 s>= %1 goto +1; %0 = 13", a, b);
	/* gotol and may_goto (falls through: the budget is not spent). */
	p[i++] = OP64("if %0 == 0 goto +1; gotol +1; %0 = 5", a, b);
	p[i++] = OP64("may_goto +1; %0 = 5", a, b);
	/* Atomics, with and without fetch. */
	p[i++] = ATOMIC("lock *(u64 *)(%1 + 0) += %0", a, b);
	p[i++] = ATOMIC32("lock *(u32 *)(%1 + 0) |= %0", a, b);
	p[i++] = ATOMIC("%0 = atomic_fetch_add((u64 *)(%1 + 0), %0)", a, b);
	p[i++] = ATOMIC("%0 = atomic_fetch_and((u64 *)(%1 + 0), %0)", a, b);
	p[i++] = ATOMIC32("%0 = atomic_fetch_xor((u32 *)(%1 + 0), %0)", a, b);
	p[i++] = ATOMIC("%0 = xchg_64(%1 + 0, %0)", a, b);
	p[i++] = ATOMIC("r0 = %0; r0 = cmpxchg_64(%1 + 0, r0, %0); %0 = r0", a, b);
	p[i++] = ATOMIC("r0 = %0; r0 = cmpxchg_64(%1 + 0, r0, %0); %0 = r0", b, b);
	return XDP_TX;
}

char _license[] __attribute__((section("license"), used)) = "GPL";
