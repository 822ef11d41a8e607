/* Division and remainder by constants as compilers emit them (multiply by a
 * magic constant, mul's high half, shifts, sar/sub sign fix-ups), unsigned
 * and signed, at 32 and 64 bits.  Request: x = req[0..7]. */
#include <stdint.h>
#include <string.h>

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	uint64_t u;
	if (len < 8 || cap < 128)
		return -1;
	memcpy(&u, req, 8);
	int64_t s = (int64_t)u;
	uint32_t u32 = (uint32_t)u;
	int32_t s32 = (int32_t)u;
	uint64_t out[16] = {
		u / 10, u % 7, u / 3, u % 1000, (uint64_t)(s / 10), (uint64_t)(s % 7),
		(uint64_t)(s / -3), (uint64_t)(s % 16), u32 / 10, u32 % 7, (uint64_t)(s32 / 7),
		(uint64_t)(s32 % 10), (uint64_t)(s32 / 2), u32 / 641, (uint64_t)(s / 1000000007),
		u / 0x8000000000000001ull,
	};
	memcpy(resp, out, sizeof(out));
	return sizeof(out);
}
