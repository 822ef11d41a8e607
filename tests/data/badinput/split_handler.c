/* The handler half of a two-object program: replies with the request's
 * bytes XOR 0x20 (ASCII letters change case); longer than cap is dropped. */
long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	unsigned long i;

	if (len > cap)
		return -1;
	for (i = 0; i < len; i++)
		resp[i] = req[i] ^ 0x20;
	return (long)len;
}
