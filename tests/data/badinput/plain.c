/* A handler-shaped object without system headers, so that it compiles for
 * any target (aarch64, -m32) and with or without -g. */
long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	unsigned long i;

	if (len > cap)
		return -1;
	for (i = 0; i < len; i++)
		resp[i] = req[i];
	return (long)len;
}

int main(void)
{
	unsigned char in[4] = { 1, 2, 3, 4 }, out[4];

	return handle_request(in, sizeof(in), out, sizeof(out)) == 4 ? 0 : 1;
}
