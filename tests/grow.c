/* grow - a handler whose reply is as long as its request asks: the first
 * two bytes, big-endian, give the reply length; the reply is that many
 * 'x'.  bench/replysize.sh and tests/t-native-veth.sh use it to find how far XDP can grow a packet
 * in generic mode on lo and in native mode on veth.
 *
 *   grow [-p PORT] [-a ADDR]      default 127.0.0.1:9009 */
#include <string.h>

#include "../samples/udp_server.h"

long handle_request(const unsigned char *req, unsigned long len,
		    unsigned char *resp, unsigned long cap)
{
	unsigned long n;

	if (len < 2)
		return -1;
	n = (unsigned long)req[0] << 8 | req[1];
	if (n == 0 || n > cap)
		return -1;
	memset(resp, 'x', n);
	return (long)n;
}

int main(int argc, char **argv)
{
	return udp_server_main(argc, argv, "grow", 9009);
}
