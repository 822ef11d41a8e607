/* A handler that keeps a pointer in a global: .bss cannot be shared (the
 * pointer means nothing in the other executable), so requests that touch
 * it fall back; the others run in XDP. */
static char buf[64];
static char *cursor;

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	if (len < 1 || cap < 2)
		return -1;
	if (req[0] == 'p') {
		resp[0] = 'o';
		return 1;
	}
	if (!cursor || cursor >= buf + sizeof(buf))
		cursor = buf;
	*cursor++ = (char)req[0];
	resp[0] = (char)(cursor - buf);
	return 1;
}

int main(void)
{
	return 0;
}
