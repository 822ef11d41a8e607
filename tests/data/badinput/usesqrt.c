/* main calls sqrt from libm: links only when -lm reaches the system linker.
 * Compile with -fno-builtin so that the call stays a call. */
double sqrt(double);

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	if (len < 1 || cap < 1)
		return -1;
	resp[0] = (unsigned char)(req[0] + 1);
	return 1;
}

int main(int argc, char **argv)
{
	(void)argv;
	return sqrt((double)(argc * 16)) == 4.0 ? 0 : 1;
}
