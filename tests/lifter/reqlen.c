/* reqlen: request reads that the handler's own comparisons with len keep
 * below it (lifter/reqlen.c proves them and bpfgen leaves their run-time
 * length check out), beside reads that reach past len and must still fall
 * back (reqlen.expect).  op = req[0]; the reply is 8 bytes:
 *   'a' the bytes before the first ' ' (i < len && req[i] != ' ')
 *   'b' the last two bytes (after len >= 3)
 *   'c' a sum of 4-byte words while len - i >= 4, then of the bytes left
 *   'd' the request itself (memcpy of len bytes; the reply is len bytes)
 *   'e' the offset of the first ';' at 1..len: one read past the end
 *   'f' req[5], checked against nothing
 *   'g' 4-byte words while len - i >= 3: up to 1 byte past the end
 *   'h' the words (runs of non-spaces) a state machine counts, with a
 *       32-bit index whose first passes are constants */
#include <string.h>

static unsigned long scan(const unsigned char *req, unsigned long len)
{
	unsigned long i = 1;

	while (i < len && req[i] != ' ')
		i++;
	return i;
}

static unsigned long words(const unsigned char *req, unsigned long len, unsigned long stop)
{
	unsigned long i = 1, sum = 0;
	unsigned int w;

	while (i < len && len - i >= stop) {
		memcpy(&w, req + i, 4);
		sum = sum * 31 + w;
		i += 4;
	}
	while (i < len)
		sum = sum * 7 + req[i++];
	return sum;
}

static unsigned long count_words(const unsigned char *req, unsigned long len)
{
	unsigned long n = 0;
	int in_word = 0;

	for (unsigned i = 1; i < len; i++) {
		if (req[i] == ' ')
			in_word = 0;
		else if (!in_word) {
			in_word = 1;
			n++;
		}
	}
	return n;
}

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp, unsigned long cap)
{
	unsigned long r = 0, i;

	if (len == 0 || cap < 64)
		return -1;
	switch (req[0]) {
	case 'a':
		r = scan(req, len);
		break;
	case 'b':
		if (len < 3)
			return -1;
		r = (unsigned long)req[len - 1] << 8 | req[len - 2];
		break;
	case 'c':
		r = words(req, len, 4);
		break;
	case 'd':
		if (len > cap)
			return -1;
		memcpy(resp, req, len);
		return (long)len;
	case 'e':
		for (i = 1; i <= len; i++)
			if (req[i] == ';')
				break;
		r = i;
		break;
	case 'f':
		r = req[5];
		break;
	case 'g':
		r = words(req, len, 3);
		break;
	case 'h':
		r = count_words(req, len);
		break;
	default:
		return 0;
	}
	memcpy(resp, &r, 8);
	return 8;
}
