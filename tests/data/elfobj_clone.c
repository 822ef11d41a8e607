/* elfobj_clone.c - gcc -O2 specialises `work` for cap == 16 into
 * work.constprop.0: a clone with work's DWARF name but another ABI. */
static __attribute__((noinline)) long work(const unsigned char *req, unsigned long len,
					   unsigned char *resp, unsigned long cap)
{
	unsigned long i;

	for (i = 0; i < len && i < cap; i++)
		resp[i] = req[i] + 1;
	return (long)i;
}

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp, unsigned long cap)
{
	return work(req, len, resp, 16) + work(req + 1, len, resp, 16) + (long)cap;
}
