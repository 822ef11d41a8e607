/* bitacl - a permission/feature-flag service: requests name a role and a
 * list of permission numbers (0-127) and ask "check", "grant" or "list";
 * roles are bitsets of 128 bits, user records are bit-fields.
 * Hard: bit tricks compilers turn into bt/bts/btr/btc, tzcnt/bsf, bsr,
 * popcount (__popcountdi2 at gcc's default -march) and SWAR byte scans
 * ("has a zero byte" on 8 bytes at a time), plus bit-field extraction. */
#include <stdint.h>
#include <string.h>

enum { OP_CHECK = 1, OP_GRANT = 2, OP_REVOKE = 3, OP_TOGGLE = 4, OP_LIST = 5, OP_FIND = 6 };

struct role {
	char name[8];
	uint64_t perms[2];
};

struct user_rec {
	unsigned uid : 20;
	unsigned role : 3;
	unsigned locked : 1;
	unsigned level : 4;
	unsigned mfa : 1;
	unsigned spare : 3;
};

static const struct role roles[] = {
	{ "admin", { ~0ULL, ~0ULL } },
	{ "ops", { 0x00ff00ff00ff00ffULL, 0x1ULL } },
	{ "dev", { 0x0000ffff0000ffffULL, 0x8000000000000000ULL } },
	{ "audit", { 0x5555555555555555ULL, 0 } },
	{ "guest", { 0x3ULL, 0 } },
};

static const struct user_rec users[] = {
	{ 1001, 0, 0, 15, 1, 0 }, { 1002, 1, 0, 7, 1, 0 }, { 1003, 2, 0, 5, 0, 0 },
	{ 1004, 2, 1, 5, 0, 0 }, { 1005, 3, 0, 2, 1, 0 }, { 4242, 4, 0, 0, 0, 0 },
};

/* Word-at-a-time search for a zero byte, as string libraries do. */
static unsigned long name_len(const unsigned char *s, unsigned long max)
{
	unsigned long i = 0;

	while (i + 8 <= max) {
		uint64_t w;

		memcpy(&w, s + i, 8);
		uint64_t z = (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
		if (z)
			return i + ((unsigned long)__builtin_ctzll(z) >> 3);
		i += 8;
	}
	while (i < max && s[i])
		i++;
	return i;
}

static int popcount128(const uint64_t *p)
{
	return __builtin_popcountll(p[0]) + __builtin_popcountll(p[1]);
}

static int highest(const uint64_t *p)
{
	if (p[1])
		return 127 - __builtin_clzll(p[1]);
	if (p[0])
		return 63 - __builtin_clzll(p[0]);
	return -1;
}

static const struct user_rec *find_user(unsigned uid)
{
	for (unsigned i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		if (users[i].uid == uid)
			return &users[i];
	return 0;
}

/* Request: op, uid (3 bytes, big endian), role name (8 bytes, NUL padded),
 * then permission numbers, one byte each. */
long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	uint64_t set[2];
	const struct user_rec *u;
	const struct role *r = 0;
	unsigned long n, at = 0;
	unsigned uid;
	int i;

	if (len < 12 || cap < 64)
		return -1;
	uid = (unsigned)req[1] << 16 | (unsigned)req[2] << 8 | req[3];
	u = find_user(uid);
	n = name_len(req + 4, 8);
	for (unsigned k = 0; k < sizeof(roles) / sizeof(roles[0]); k++)
		if (strlen(roles[k].name) == n && !memcmp(roles[k].name, req + 4, n))
			r = &roles[k];
	if (!r && u)
		r = &roles[u->role];
	if (!r)
		return -1;
	memcpy(set, r->perms, sizeof(set));
	if (u && u->locked)
		set[0] = set[1] = 0;
	if (u && !u->mfa)
		set[1] &= ~(1ULL << 63);
	resp[at++] = req[0];
	switch (req[0]) {
	case OP_CHECK: {
		uint64_t ok = 0;

		for (unsigned long k = 12; k < len && k < 12 + 64; k++) {
			unsigned p = req[k] & 127;

			if (set[p >> 6] & (1ULL << (p & 63)))
				ok |= 1ULL << (k - 12);
		}
		memcpy(resp + at, &ok, 8);
		at += 8;
		break;
	}
	case OP_GRANT:
	case OP_REVOKE:
	case OP_TOGGLE:
		for (unsigned long k = 12; k < len; k++) {
			unsigned p = req[k];

			if (p > 127)
				return -1;
			if (req[0] == OP_GRANT)
				set[p >> 6] |= 1ULL << (p & 63);
			else if (req[0] == OP_REVOKE)
				set[p >> 6] &= ~(1ULL << (p & 63));
			else
				set[p >> 6] ^= 1ULL << (p & 63);
		}
		memcpy(resp + at, set, 16);
		at += 16;
		resp[at++] = (unsigned char)popcount128(set);
		break;
	case OP_LIST: {
		uint64_t w[2];

		memcpy(w, set, sizeof(w));
		for (i = 0; i < 2; i++)
			while (w[i] && at < cap) {
				int b = __builtin_ctzll(w[i]);

				resp[at++] = (unsigned char)(i * 64 + b);
				w[i] &= w[i] - 1;
			}
		break;
	}
	case OP_FIND:
		resp[at++] = (unsigned char)highest(set);
		resp[at++] = u ? (unsigned char)(u->level << 4 | u->role << 1 | u->mfa) : 0xff;
		resp[at++] = (unsigned char)(set[0] == 0 ? 0xff : __builtin_ffsll((long long)set[0]));
		break;
	default:
		return 0;
	}
	return (long)at;
}
