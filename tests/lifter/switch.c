/* A dense switch that gcc and clang -O2 compile to a jump table (an
 * indirect jmp through .rodata), plus a sparse one (compare trees).
 * Request: k = req[0], x = req[1..4]. */
#include <stdint.h>
#include <string.h>

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	uint32_t x, r;
	if (len < 5 || cap < 8)
		return -1;
	memcpy(&x, req + 1, 4);
	switch (req[0]) {
	case 0: r = x + 1; break;
	case 1: r = x * 3; break;
	case 2: r = x ^ 0x5a5a5a5a; break;
	case 3: r = x >> 3; break;
	case 4: r = ~x; break;
	case 5: r = x - 77; break;
	case 6: r = x << 5; break;
	case 7: r = x | 0x80000000u; break;
	case 8: r = x & 0xff00ff00u; break;
	case 9: r = x / 5; break;
	case 10: r = x % 9; break;
	case 12: r = 12; break;
	case 13: return 0;
	case 14: return -2;
	default: r = 0xdeadbeef; break;
	}
	switch (x & 0xffff) {
	case 1: r += 100; break;
	case 1000: r += 200; break;
	case 40000: r += 300; break;
	case 0xffff: r += 400; break;
	default: break;
	}
	memcpy(resp, &r, 4);
	memcpy(resp + 4, req, 4);
	return 8;
}
