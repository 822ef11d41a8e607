/* handle_request with the wrong signature: koff-link must say so. */
int handle_request(char *p, int n)
{
	return n > 0 ? p[0] : -1;
}

int main(void)
{
	char b[1] = { 7 };

	return handle_request(b, 1) == 7 ? 0 : 1;
}
