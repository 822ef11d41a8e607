/* nop - the smallest handler that answers: one byte back.  The benchmark's
 * fixed part (bench/quick.sh): lifted, it is koff's XDP entry and exit
 * around almost nothing; through bench/ref/nop_ref.bpf.c (the same source,
 * clang -target bpf) it is a minimal hand-written XDP responder. */
#ifndef NOP_HANDLER
#define NOP_HANDLER
#endif

NOP_HANDLER long handle_request(const unsigned char *req, unsigned long len,
				unsigned char *resp, unsigned long cap)
{
	if (len == 0 || cap == 0 || req[0] == '#')
		return 0;	/* dropped: bench/quick.sh times the entry alone with these */
	resp[0] = req[0];
	return 1;
}

#ifndef NOP_BPF_REF
#include "../../samples/udp_server.h"

int main(int argc, char **argv)
{
	return udp_server_main(argc, argv, "nop", 7009);
}
#endif
