/* An initialised pointer: .data holds a relocation, so it cannot be
 * shared; the handler's reads of it fall back. */
static int limit = 7;
int *limit_ptr = &limit;	/* global: the compiler must keep it */

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	if (len < 1 || cap < 1)
		return -1;
	if (req[0] == 'p') {
		resp[0] = 'o';
		return 1;
	}
	resp[0] = (unsigned char)*limit_ptr;
	return 1;
}

int main(void)
{
	return 0;
}
