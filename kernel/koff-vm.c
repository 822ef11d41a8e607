/* koff-vm - run a shell script, or a feature probe, on another kernel
 * under QEMU (kernel/vm.h).
 *
 *	koff-vm (--kernel SERIES | --image PATH) [--file HOST[:GUEST]]...
 *		[--timeout SECS] [--mem MB] -- SCRIPT
 *	koff-vm (--kernel SERIES | --image PATH) probe
 *	koff-vm (--kernel SERIES | --image PATH) verify OBJ.bpf.o
 *
 * `probe` prints the kernel's features (kernel_probe_features in the guest);
 * `verify` loads a koff-link BPF object there as koff-link verifies it on
 * the host, prints the verdict's fields and exits 0 when it was accepted,
 * 1 when not (the reason on stderr).
 * Exits with the script's status; its output (stdout and stderr together)
 * goes to stdout.  When the script could not run, one line on stderr and a
 * status of its own (below); on SIGINT/SIGTERM QEMU is killed, everything
 * removed, and the status is 128 + the signal's number. */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target.h"
#include "vm.h"

enum koff_vm_exit {
	EXIT_USAGE = 120,
	EXIT_NO_IMAGE = 121,
	EXIT_NO_QEMU = 122,
	EXIT_BOOT_FAILED = 123,
	EXIT_TIMEOUT = 124,
	EXIT_HOST_ERROR = 125,
};

struct cli {
	const char *series, *image;
	struct vm_file *files;
	int nfiles, capfiles;
	unsigned timeout, mem;
	const char *script;
	bool probe;
	const char *verify;	/* the object of `verify OBJ` */
	char image_buf[PATH_MAX];
};

/* Set by SIGINT/SIGTERM: vm_run kills QEMU and cleans up. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "koff-vm: %s\n", why);
	fprintf(stderr,
		"usage: koff-vm (--kernel SERIES | --image PATH) [--file HOST[:GUEST]]... [--timeout SECS]\n"
		"               [--mem MB] -- SCRIPT\n"
		"       koff-vm (--kernel SERIES | --image PATH) probe\n"
		"       koff-vm (--kernel SERIES | --image PATH) verify OBJ.bpf.o\n");
	return EXIT_USAGE;
}

static int add_file(struct cli *c, char *arg)
{
	char *colon = strchr(arg, ':');

	if (koff_grow(&c->files, &c->capfiles, c->nfiles, sizeof(*c->files)))
		return -1;
	if (colon)
		*colon = '\0';
	c->files[c->nfiles].host = arg;
	c->files[c->nfiles].guest = colon ? colon + 1 : NULL;
	c->nfiles++;
	return 0;
}

static bool parse_unsigned(const char *s, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v == 0 || v > 1000000)
		return false;
	*out = (unsigned)v;
	return true;
}

static int parse_args(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' }, { "image", required_argument, NULL, 'i' },
		{ "file", required_argument, NULL, 'f' },   { "timeout", required_argument, NULL, 't' },
		{ "mem", required_argument, NULL, 'm' },    { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (ch == 'k')
			c->series = optarg;
		else if (ch == 'i')
			c->image = optarg;
		else if (ch == 'f' && add_file(c, optarg))
			return usage("out of memory");
		else if (ch == 't' && !parse_unsigned(optarg, &c->timeout))
			return usage("--timeout takes a number of seconds");
		else if (ch == 'm' && !parse_unsigned(optarg, &c->mem))
			return usage("--mem takes a number of megabytes");
		else if (ch == 'h' || ch == '?')
			return usage(NULL);
	}
	if (!c->series == !c->image)
		return usage("give one of --kernel SERIES or --image PATH");
	bool after_dashes = !strcmp(argv[optind - 1], "--");

	if (optind == argc - 1 && !strcmp(argv[optind], "probe") && !after_dashes)
		c->probe = true;
	else if (optind == argc - 2 && !strcmp(argv[optind], "verify") && !after_dashes)
		c->verify = argv[optind + 1];
	else if (optind == argc - 1 && !strcmp(argv[optind - 1], "--"))
		c->script = argv[optind];
	else
		return usage("give one SCRIPT after --, or probe, or verify OBJ");
	return 0;
}

static int resolve_image(struct cli *c)
{
	if (c->image)
		return 0;
	c->image = vm_image_for(c->series, c->image_buf, sizeof(c->image_buf));
	if (c->image)
		return 0;
	fprintf(stderr, "koff-vm: no cached image for kernel %s (run kernel/fetch-kernel.sh %s)\n",
		c->series, c->series);
	return EXIT_NO_IMAGE;
}

static int exit_for(enum vm_failure f)
{
	switch (f) {
	case VM_NO_IMAGE: return EXIT_NO_IMAGE;
	case VM_NO_QEMU: return EXIT_NO_QEMU;
	case VM_TIMEOUT: return EXIT_TIMEOUT;
	case VM_BOOT_FAILED: return EXIT_BOOT_FAILED;
	case VM_OK:
	case VM_HOST_ERROR: break;
	}
	return EXIT_HOST_ERROR;
}

static int run_script(const struct cli *c)
{
	struct vm_run_opts o = { .image = c->image, .script = c->script, .files = c->files,
				 .nfiles = c->nfiles, .timeout_sec = c->timeout, .mem_mb = c->mem,
				 .cancel = &interrupted };
	struct koff_error err = { 0 };
	struct vm_result r;
	int rc = vm_run(&o, &r, &err);

	if (r.output)
		fwrite(r.output, 1, r.output_len, stdout);
	fflush(stdout);
	if (rc)
		fprintf(stderr, "koff-vm: %s\n", err.msg);
	rc = rc ? exit_for(r.failure) : r.exit_code;
	vm_result_free(&r);
	return rc;
}

/* The agent's runs report errnos, not vm_failure: the same cases by errno. */
static int exit_for_errno(int rc)
{
	switch (rc) {
	case -ETIMEDOUT: return EXIT_TIMEOUT;
	case -EIO: return EXIT_BOOT_FAILED;
	default: return EXIT_HOST_ERROR;
	}
}

static int run_verify(const struct cli *c)
{
	struct koff_error err = { 0 };
	struct bpf_verdict v;
	int rc = vm_verify_object(c->image, c->verify, &v, &err);

	printf("loaded %d\nprocessed %u\nprog_insns %u\nfail_insn %d\nhot", v.loaded, v.processed_insns,
	       v.prog_insns, v.fail_insn);
	for (int i = 0; i < v.nhot; i++)
		printf(" %d", v.hot_insns[i]);
	printf("\n");
	bpf_verdict_free(&v);
	if (!rc)
		return 0;
	fprintf(stderr, "koff-vm: %s\n", err.msg);
	/* A verdict of the guest's verifier, or the VM failing to give one. */
	return v.fail_insn >= 0 || strstr(err.msg, "(kernel ") ? 1 : exit_for_errno(rc);
}

static int run_probe(const struct cli *c)
{
	struct koff_error err = { 0 };
	char release[128] = "";
	uint64_t features;
	int rc = vm_probe_features(c->image, &features, release, sizeof(release), &err);

	if (rc) {
		fprintf(stderr, "koff-vm: %s\n", err.msg);
		return exit_for_errno(rc);
	}
	printf("kernel %s:", release);
	for (int f = 0; f < KFEAT__COUNT; f++)
		if (features & KFEAT_BIT(f))
			printf(" %s", kfeature_name((enum koff_kfeature)f));
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c = { 0 };
	int rc = parse_args(&c, argc, argv);

	if (!rc)
		rc = resolve_image(&c);
	if (!rc) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		rc = c.probe ? run_probe(&c) : c.verify ? run_verify(&c) : run_script(&c);
	}
	/* Interrupted: QEMU is gone and the files removed; exit as a shell would. */
	if (interrupted)
		rc = 128 + interrupted;
	free(c.files);
	return rc;
}
