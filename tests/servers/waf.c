/* waf - a request filter whose rules come from a rule compiler: each rule
 * looks at one field of a fixed-layout request summary and sets its own
 * match flag; the decision then adds up a score from every flag and
 * answers "allow", "challenge" or "deny" with the matched rule numbers.
 * Hard: the rules are straight-line code, which gcc -O2 and clang make
 * branch-free (setcc, sbb, cmov), and the scoring branches on every flag:
 * a verifier that keeps each flag's exact value walks 2^rules paths
 * (koff answers with its "laundered joins" shape, src/offload.c). */
#include <stdint.h>
#include <string.h>

/* The summary a front end sends for each HTTP request. */
struct summary {
	uint8_t method;		/* 1 GET, 2 POST, 3 PUT, 4 DELETE, 5 other */
	uint8_t version;	/* 10, 11, 20 */
	uint8_t path_depth;
	uint8_t path_dots;	/* ".." segments */
	uint8_t query_len;
	uint8_t quotes;		/* ' and " in the query */
	uint8_t angle;		/* < and > in the query */
	uint8_t percent;	/* %-escapes */
	uint8_t headers;
	uint8_t cookies;
	uint8_t ua_len;
	uint8_t ua_class;	/* 0 browser, 1 bot, 2 tool, 3 none */
	uint8_t host_ok;
	uint8_t tls;
	uint8_t body_kb;
	uint8_t content_type;	/* 0 none, 1 form, 2 json, 3 multipart, 4 other */
	uint8_t country;
	uint8_t asn_class;	/* 0 isp, 1 hosting, 2 tor */
	uint8_t rate;		/* requests per second from this client */
	uint8_t failures;	/* recent 4xx answers to this client */
	uint8_t keyword_hits;	/* SQL keywords seen by the front end */
	uint8_t null_bytes;
	uint8_t long_header;
	uint8_t ref_ok;
};

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	struct summary s;
	unsigned r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11;
	unsigned r12, r13, r14, r15, r16, r17, r18, r19, r20, r21, r22, r23;
	unsigned score = 0, n = 0;
	uint32_t matched = 0;

	if (len != sizeof(s) || cap < 48)
		return -1;
	memcpy(&s, req, sizeof(s));
	/* --- generated rules ---------------------------------------------- */
	r0 = s.method > 4;
	r1 = s.version < 11;
	r2 = s.path_depth > 12;
	r3 = s.path_dots > 0;
	r4 = s.query_len > 200;
	r5 = s.quotes > 1;
	r6 = s.angle > 0;
	r7 = s.percent > 20;
	r8 = s.headers > 40;
	r9 = s.cookies > 30;
	r10 = s.ua_len < 8;
	r11 = s.ua_class > 1;
	r12 = s.host_ok == 0;
	r13 = s.tls == 0;
	r14 = s.body_kb > 64;
	r15 = s.content_type > 3;
	r16 = s.country > 200;
	r17 = s.asn_class == 2;
	r18 = s.rate > 50;
	r19 = s.failures > 10;
	r20 = s.keyword_hits > 2;
	r21 = s.null_bytes != 0;
	r22 = s.long_header != 0;
	r23 = s.ref_ok == 0;
	/* --- scoring --------------------------------------------------------- */
#define RULE(i, w) do { if (r##i) { score += (w); matched |= 1u << (i); n++; } } while (0)
	RULE(0, 2); RULE(1, 1); RULE(2, 2); RULE(3, 8); RULE(4, 2); RULE(5, 4);
	RULE(6, 6); RULE(7, 3); RULE(8, 2); RULE(9, 1); RULE(10, 2); RULE(11, 3);
	RULE(12, 5); RULE(13, 1); RULE(14, 2); RULE(15, 1); RULE(16, 1); RULE(17, 6);
	RULE(18, 4); RULE(19, 3); RULE(20, 7); RULE(21, 9); RULE(22, 2); RULE(23, 1);
#undef RULE
	{
		const char *verdict = score >= 12 ? "deny" : score >= 6 ? "challenge" : "allow";
		size_t vl = strlen(verdict), o = 0;
		static const char hex[] = "0123456789abcdef";

		memcpy(resp, verdict, vl);
		o = vl;
		resp[o++] = ' ';
		resp[o++] = (unsigned char)('0' + score / 10 % 10);
		resp[o++] = (unsigned char)('0' + score % 10);
		resp[o++] = ' ';
		for (int sh = 20; sh >= 0; sh -= 4)
			resp[o++] = (unsigned char)hex[(matched >> sh) & 15];
		resp[o++] = ' ';
		resp[o++] = (unsigned char)('0' + n / 10);
		resp[o++] = (unsigned char)('0' + n % 10);
		return (long)o;
	}
}
