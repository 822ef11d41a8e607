/* identity.c - which executable OUT.bpf.o and OUT.koff.json belong to: the
 * SHA-256 of the executable the system linker just wrote.  OUT.bpf.o
 * carries it in KOFF_IDENTITY_SECTION, the manifest as executable_sha256,
 * and koff-load compares it with the OUT it is about to run. */
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "koff_abi.h"
#include "koff_identity.h"

int identity_of_executable(struct koff_ctx *ctx)
{
	int rc = koff_sha256_file(ctx->tmp_exe, ctx->exe_sha256);

	if (rc)
		return koff_fail(&ctx->err, rc, "%s: cannot read the linked executable: %s", ctx->opt.output,
				 strerror(-rc));
	snprintf(ctx->identity, sizeof(ctx->identity), "%s%s\n", KOFF_IDENTITY_KEY, ctx->exe_sha256);
	return 0;
}
