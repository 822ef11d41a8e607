/* koff lifter mismatch, reduced from handlergen 1 (tests/gen/run.sh).
 * gcc -O2 -g -c; request hex: 00 (one zero byte); native returns 1, the XDP
 * program replies 37 bytes.  gcc turns the select into
 *	cmpb $0x1,(%r9); sbb %rax,%rax; and $-36,%rax; add $37,%rax
 * so the lifted cmp-with-memory + sbb (borrow) is the suspect. */
long handle_request(const unsigned char *req, unsigned long len,
		    unsigned char *resp, unsigned long cap)
{
	unsigned long acc = 0x879e2e2256feff0cul;
	unsigned int h = 0x5e4be0f5u;
	unsigned long i5 = 0;
	while (i5 < len && i5 < 510u) {
		unsigned char c5 = req[i5];
		{
			short sv6 = (short)(~(h));
			int iv6 = (int)sv6 * 9158;
			signed char cv6 = (signed char)iv6;
			acc += (unsigned long)(long)iv6 + (unsigned long)(long)cv6;
			h = (unsigned int)(unsigned short)sv6 * 60266u;
		}
		{
			unsigned long n7 = (((unsigned long)((i5) != ((unsigned long)c5)) ? (h) : (i5))) % 200u + 1;
			if (n7 > cap)
				return -7;
			for (unsigned long k7 = 0; k7 < n7; k7++)
				resp[k7] = (unsigned char)((acc >> ((k7 & 7) * 8)) ^ h ^ (k7 < len ? req[k7] : 0x3eu));
			return (long)n7;
		}
		i5++;
	}
	return 0;
}
