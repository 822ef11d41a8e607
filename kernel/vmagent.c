/* vmagent.c - koff-vmagent: the guest side of vm_verify_object() and
 * vm_probe_features() (kernel/vm.h).  A static binary (no shared libraries
 * to carry into the initramfs) built from bpfgen/verify.c and
 * kernel/probe.c, so that the guest verifies and probes with exactly the
 * code the host runs.  It prints one record (kernel/vmagent.h) on stdout.
 *
 *	koff-vmagent verify OBJ.bpf.o
 *	koff-vmagent probe
 *
 * Also runs on the host (a probe of the running kernel, for comparison). */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "target.h"
#include "verify.h"
#include "vmagent.h"

static void print_header(int rc)
{
	struct utsname u;

	fputs(VMAGENT_MAGIC, stdout);
	printf("release %s\n", uname(&u) == 0 ? u.release : "unknown");
	printf("rc %d\n", rc);
}

static void print_footer(const struct koff_error *err, const char *log)
{
	printf("msg %s\n", err->msg);
	printf("log %zu\n", log ? strlen(log) : 0);
	if (log)
		fputs(log, stdout);
	printf("\nend\n");
}

static int agent_verify(const char *path)
{
	struct koff_error err = { 0 };
	struct bpf_verdict v;
	int rc = bpf_verify_object(path, VERIFY_LOCATE_REJECTION, &v, &err);

	print_header(rc);
	printf("loaded %d\nprocessed %u\nprog_insns %u\nfail_insn %d\nhot", v.loaded, v.processed_insns,
	       v.prog_insns, v.fail_insn);
	for (int i = 0; i < v.nhot; i++)
		printf(" %d", v.hot_insns[i]);
	printf("\n");
	print_footer(&err, v.log);
	bpf_verdict_free(&v);
	return rc ? 1 : 0;
}

static int agent_probe(void)
{
	struct koff_error err = { 0 };
	uint64_t features = 0;
	int rc = kernel_probe_features(&features, &err);

	print_header(rc);
	printf("features");
	for (int f = 0; f < KFEAT__COUNT; f++)
		if (features & KFEAT_BIT(f))
			printf(" %s", kfeature_name((enum koff_kfeature)f));
	printf("\n");
	print_footer(&err, NULL);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "verify"))
		return agent_verify(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "probe"))
		return agent_probe();
	fprintf(stderr, "usage: " VMAGENT_NAME " verify OBJ.bpf.o | " VMAGENT_NAME " probe\n");
	return 2;
}
