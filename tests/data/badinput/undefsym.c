/* Links only if no_such_function_xyz exists: it does not, so the system
 * linker fails.  The handler itself is fine. */
void no_such_function_xyz(void);

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	if (len < 1 || cap < 1)
		return -1;
	resp[0] = req[0];
	return 1;
}

int main(void)
{
	no_such_function_xyz();
	return 0;
}
