/* A region larger than a page: the control block lands on the second
 * page, stores at offsets past 4 KiB (constant and indexed). */
static unsigned char big[5000];
static unsigned long tally;

long handle_request(const unsigned char *req, unsigned long len, unsigned char *resp,
		    unsigned long cap)
{
	unsigned int i;

	if (len < 2 || cap < 3)
		return -1;
	i = ((unsigned int)req[0] * 19u + req[1]) % 5000u;
	big[i] += 1;
	big[4999] = req[0];
	tally += i;
	resp[0] = big[i];
	resp[1] = big[4999];
	resp[2] = (unsigned char)tally;
	return 3;
}

int main(void)
{
	return 0;
}
