/* koff_identity.h - the SHA-256 that pairs OUT with OUT.bpf.o (see
 * KOFF_IDENTITY_SECTION in koff_abi.h): koff-link computes it when it
 * links, koff-load again before it attaches.  Header-only so that the
 * loader, which shares no code with koff-link, computes it the same way. */
#ifndef KOFF_IDENTITY_H
#define KOFF_IDENTITY_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <openssl/evp.h>

/* hex (65 bytes) = the lowercase SHA-256 of the file's bytes; 0 or -errno. */
static inline int koff_sha256_file(const char *path, char hex[65])
{
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), rc = 0;
	EVP_MD_CTX *md_ctx;
	ssize_t n;

	if (fd < 0)
		return -errno;
	md_ctx = EVP_MD_CTX_new();
	if (!md_ctx || !EVP_DigestInit_ex(md_ctx, EVP_sha256(), NULL))
		rc = -ENOMEM;
	while (!rc && (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		else if (!EVP_DigestUpdate(md_ctx, buf, (size_t)n))
			rc = -EIO;
	}
	if (!rc && (!EVP_DigestFinal_ex(md_ctx, md, &mdlen) || mdlen != 32))
		rc = -EIO;
	for (unsigned int i = 0; !rc && i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	EVP_MD_CTX_free(md_ctx);
	close(fd);
	return rc;
}

#endif
