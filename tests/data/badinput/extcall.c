/* A handler that calls a libc function koff cannot run in the kernel
 * (getpid): the call must become a fallback, never an error. */
int getpid(void);

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	if (len < 1 || cap < 1)
		return -1;
	if (req[0] == 'p') {
		resp[0] = (unsigned char)getpid();
		return 1;
	}
	resp[0] = req[0];
	return 1;
}

int main(void)
{
	unsigned char in[1] = { 'x' }, out[1];

	return handle_request(in, 1, out, 1) == 1 ? 0 : 1;
}
