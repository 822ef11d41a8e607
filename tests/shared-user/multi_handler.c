/* multi_handler.c - the entry object of a program in three objects
 * (tests/t-shared-objects.sh): its globals are the shared state. */
long served;			/* named from multi_stats.c */
static long bytes = 1000;

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp, unsigned long cap)
{
	(void)req;
	served++;
	bytes += (long)len;
	if (cap)
		resp[0] = (unsigned char)('0' + served % 10);
	return cap ? 1 : 0;
}

long bytes_seen(void)
{
	return bytes;
}
