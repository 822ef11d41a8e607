/* elfobj_badsig.c - a handler with the wrong signature. */
int handle_request(char *p, int n)
{
	return p[0] + n;
}

int (*pick(int which))(char *, int)
{
	return which ? handle_request : 0;
}
