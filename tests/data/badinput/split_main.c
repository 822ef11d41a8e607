/* The server half of a two-object program: main here, the handler in
 * split_handler.c.  Exits 0 when the handler answers "ab" with "AB". */
long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap);

int main(void)
{
	const unsigned char req[2] = { 'a', 'b' };
	unsigned char resp[2];

	return handle_request(req, 2, resp, 2) == 2 && resp[0] == 'A' && resp[1] == 'B' ? 0 : 1;
}
