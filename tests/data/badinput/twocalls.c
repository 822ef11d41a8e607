/* A handler that calls a local function from two places: koff inlines a
 * copy at each call site, and the manifest and --explain say so. */
__attribute__((noinline)) static unsigned char flip(unsigned char c)
{
	return (unsigned char)(c ^ 0x20);
}

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	if (len < 2 || cap < 2)
		return -1;
	resp[0] = flip(req[0]);
	resp[1] = flip(req[1]);
	return 2;
}

int main(void)
{
	return 0;
}
