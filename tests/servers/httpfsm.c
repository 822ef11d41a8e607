/* httpfsm - an HTTP/1.x-over-UDP status endpoint (think of a health-check
 * responder), parsed one byte at a time by a big switch state machine, as
 * http-parser and nginx do: method, path, version, headers, Host/Connection.
 * Hard: a large switch in a loop (jump tables, dense and sparse cases),
 * per-state counters, routing over a const table of paths. */
#include <string.h>

enum state {
	S_START, S_METHOD, S_SP1, S_PATH, S_QUERY, S_SP2, S_H, S_HT, S_HTT, S_HTTP, S_SLASH,
	S_MAJOR, S_DOT, S_MINOR, S_CR1, S_LF1, S_HNAME, S_HCOLON, S_HVALUE, S_HCR, S_HLF,
	S_END_CR, S_DONE
};

enum method { M_UNKNOWN, M_GET, M_HEAD, M_POST, M_OPTIONS };

struct req_state {
	enum method method;
	unsigned path_off, path_len, query_len;
	unsigned major, minor;
	unsigned hname_off, hname_len, hvalue_off, hvalue_len;
	unsigned nheaders;
	int keepalive, has_host;
	char mbuf[8];
	unsigned mlen;
};

struct route {
	const char *path;
	int status;
	const char *body;
};

static const struct route routes[] = {
	{ "/", 200, "ok\n" },
	{ "/health", 200, "healthy\n" },
	{ "/ready", 200, "ready\n" },
	{ "/version", 200, "httpfsm/2.4\n" },
	{ "/metrics", 200, "requests_total 1\nup 1\n" },
	{ "/admin", 403, "forbidden\n" },
	{ "/old", 301, "moved\n" },
};

static enum method method_of(const char *m, unsigned n)
{
	switch (n) {
	case 3: return !memcmp(m, "GET", 3) ? M_GET : M_UNKNOWN;
	case 4: return !memcmp(m, "HEAD", 4) ? M_HEAD : !memcmp(m, "POST", 4) ? M_POST : M_UNKNOWN;
	case 7: return !memcmp(m, "OPTIONS", 7) ? M_OPTIONS : M_UNKNOWN;
	default: return M_UNKNOWN;
	}
}

static int lower_eq(const unsigned char *a, const char *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned char c = a[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + 32);
		if (c != (unsigned char)b[i])
			return 0;
	}
	return 1;
}

static void end_header(const unsigned char *req, struct req_state *st)
{
	st->nheaders++;
	if (st->hname_len == 4 && lower_eq(req + st->hname_off, "host", 4))
		st->has_host = 1;
	if (st->hname_len == 10 && lower_eq(req + st->hname_off, "connection", 10)) {
		if (st->hvalue_len == 10 && lower_eq(req + st->hvalue_off, "keep-alive", 10))
			st->keepalive = 1;
		else if (st->hvalue_len == 5 && lower_eq(req + st->hvalue_off, "close", 5))
			st->keepalive = 0;
	}
}

static int parse(const unsigned char *req, unsigned long len, struct req_state *st)
{
	enum state s = S_START;

	for (unsigned i = 0; i < len; i++) {
		unsigned char ch = req[i];

		switch (s) {
		case S_START:
			if (ch == '\r' || ch == '\n')
				break;
			if (ch < 'A' || ch > 'Z')
				return -1;
			s = S_METHOD;
			/* fall through */
		case S_METHOD:
			if (ch == ' ') {
				st->method = method_of(st->mbuf, st->mlen);
				s = S_SP1;
			} else if (ch >= 'A' && ch <= 'Z' && st->mlen < sizeof(st->mbuf)) {
				st->mbuf[st->mlen++] = (char)ch;
			} else {
				return -1;
			}
			break;
		case S_SP1:
			if (ch != '/')
				return -1;
			st->path_off = i;
			st->path_len = 1;
			s = S_PATH;
			break;
		case S_PATH:
			if (ch == ' ')
				s = S_H;
			else if (ch == '?')
				s = S_QUERY;
			else if (ch <= ' ' || ch == 0x7f)
				return -1;
			else
				st->path_len++;
			break;
		case S_QUERY:
			if (ch == ' ')
				s = S_H;
			else if (ch <= ' ')
				return -1;
			else
				st->query_len++;
			break;
		case S_H: if (ch != 'H') return -1; s = S_HT; break;
		case S_HT: if (ch != 'T') return -1; s = S_HTT; break;
		case S_HTT: if (ch != 'T') return -1; s = S_HTTP; break;
		case S_HTTP: if (ch != 'P') return -1; s = S_SLASH; break;
		case S_SLASH: if (ch != '/') return -1; s = S_MAJOR; break;
		case S_MAJOR:
			if (ch < '0' || ch > '9')
				return -1;
			st->major = ch - '0';
			s = S_DOT;
			break;
		case S_DOT: if (ch != '.') return -1; s = S_MINOR; break;
		case S_MINOR:
			if (ch < '0' || ch > '9')
				return -1;
			st->minor = ch - '0';
			st->keepalive = st->minor >= 1;
			s = S_CR1;
			break;
		case S_CR1:
			if (ch == '\r')
				s = S_LF1;
			else if (ch == '\n')
				s = S_HNAME;
			else
				return -1;
			if (ch == '\n')
				st->hname_len = 0;
			break;
		case S_LF1:
			if (ch != '\n')
				return -1;
			st->hname_len = 0;
			s = S_HNAME;
			break;
		case S_HNAME:
			if (ch == '\r' && st->hname_len == 0) {
				s = S_END_CR;
			} else if (ch == '\n' && st->hname_len == 0) {
				return 0;
			} else if (ch == ':') {
				if (st->hname_len == 0)
					return -1;
				s = S_HCOLON;
			} else if (ch <= ' ' || ch >= 0x7f) {
				return -1;
			} else {
				if (st->hname_len == 0)
					st->hname_off = i;
				st->hname_len++;
			}
			break;
		case S_HCOLON:
			if (ch == ' ' || ch == '\t')
				break;
			st->hvalue_off = i;
			st->hvalue_len = 0;
			s = S_HVALUE;
			/* fall through */
		case S_HVALUE:
			if (ch == '\r') {
				s = S_HLF;
			} else if (ch == '\n') {
				end_header(req, st);
				st->hname_len = 0;
				s = S_HNAME;
			} else {
				st->hvalue_len++;
			}
			break;
		case S_HLF:
			if (ch != '\n')
				return -1;
			end_header(req, st);
			st->hname_len = 0;
			s = S_HNAME;
			break;
		case S_END_CR:
			return ch == '\n' ? 0 : -1;
		default:
			return -1;
		}
	}
	/* A datagram may end right after the request line or a header. */
	return s == S_HNAME || s == S_CR1 || s == S_LF1 ? 0 : -1;
}

static unsigned long append(unsigned char *resp, unsigned long at, unsigned long cap, const char *s)
{
	while (*s) {
		if (at >= cap)
			return cap + 1;
		resp[at++] = (unsigned char)*s++;
	}
	return at;
}

static unsigned long append_uint(unsigned char *resp, unsigned long at, unsigned long cap, unsigned v)
{
	char buf[12];
	unsigned n = 0;

	do {
		buf[sizeof(buf) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (at + n > cap)
		return cap + 1;
	memcpy(resp + at, buf + sizeof(buf) - n, n);
	return at + n;
}

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	struct req_state st;
	const struct route *r = 0;
	const char *reason, *body;
	unsigned long at;
	int status;

	memset(&st, 0, sizeof(st));
	if (len < 14 || parse(req, len, &st) < 0)
		return -1;
	for (unsigned i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strlen(routes[i].path) == st.path_len &&
		    !memcmp(routes[i].path, req + st.path_off, st.path_len))
			r = &routes[i];
	if (st.method == M_UNKNOWN || st.method == M_POST) {
		status = 405;
		body = "method not allowed\n";
	} else if (st.major != 1 || (st.minor == 1 && !st.has_host)) {
		status = 400;
		body = "bad request\n";
	} else if (!r) {
		status = 404;
		body = "not found\n";
	} else {
		status = r->status;
		body = r->body;
	}
	switch (status) {
	case 200: reason = "OK"; break;
	case 301: reason = "Moved Permanently"; break;
	case 400: reason = "Bad Request"; break;
	case 403: reason = "Forbidden"; break;
	case 404: reason = "Not Found"; break;
	case 405: reason = "Method Not Allowed"; break;
	default: reason = "Unknown"; break;
	}
	at = append(resp, 0, cap, "HTTP/1.");
	at = append_uint(resp, at, cap, st.minor);
	at = append(resp, at, cap, " ");
	at = append_uint(resp, at, cap, (unsigned)status);
	at = append(resp, at, cap, " ");
	at = append(resp, at, cap, reason);
	at = append(resp, at, cap, "\r\nContent-Length: ");
	at = append_uint(resp, at, cap, (unsigned)strlen(body));
	at = append(resp, at, cap, st.keepalive ? "\r\nConnection: keep-alive" : "\r\nConnection: close");
	if (status == 301)
		at = append(resp, at, cap, "\r\nLocation: /");
	at = append(resp, at, cap, "\r\n\r\n");
	if (st.method != M_HEAD)
		at = append(resp, at, cap, body);
	return at > cap ? -1 : (long)at;
}
