/* options.c - koff-link's command line.  Options it does not know go to the
 * system linker untouched, like any linker wrapper. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

static const char usage[] =
	"usage: koff-link [options] OBJECT.o [more objects and linker arguments] -o OUT\n"
	"Links OUT like cc would, and offloads the UDP request handler to XDP:\n"
	"writes OUT, OUT.bpf.o (XDP program) and OUT.koff.json (manifest and report).\n"
	"  -o OUT            the executable to write (required)\n"
	"  --entry NAME      the handler (default handle_request); DWARF must show\n"
	"                    long NAME(const unsigned char *, unsigned long, unsigned char *, unsigned long)\n"
	"  --udp-port N      only UDP datagrams to port N reach the handler (default: all)\n"
	"  --resp-cap N      the reply buffer size the server passes as cap (default 1472)\n"
	"  --loop-cap N      loop-head passes allowed per request before it falls back\n"
	"                    (default 65536)\n"
	"  --kernel K        the kernel the program must run on: portable (default: every\n"
	"                    kernel from 6.1 to the newest), host (probe the running one),\n"
	"                    or a series: 5.15 6.1 6.6 6.8 6.12 6.18\n"
	"  --verify-on LIST  where to verify, comma-separated: host and/or series (default:\n"
	"                    host for portable and host, else the series, in a VM)\n"
	"  --kernel-image P  the target series' kernel image (vmlinuz) for VM verification\n"
	"  --no-verify       do not load the program into any kernel at link time\n"
	"  --no-offload      only link OUT; write no BPF program\n"
	"  --trace FILE      representative requests (pcap of UDP datagrams, or one hex\n"
	"                    request per line): measure the program on them and offload\n"
	"                    only when the cost model predicts a gain\n"
	"  --force           offload even when the trace predicts a loss\n"
	"  --no-early-fallback  keep each fallback where the code has it, instead of\n"
	"                    at the first block from which every path falls back\n"
	"  --profile FILE    perf script output or folded stacks: rank the candidate\n"
	"                    functions by time spent (used when --entry is not given)\n"
	"  --explain         print what was offloaded, what falls back and why\n"
	"  --dump-ir         print the lifted IR to stderr\n"
	"  --dump-bpf        print the eBPF instructions, each with its x86 address\n"
	"  --record-path     diagnostics: the XDP program records the x86 path it runs, so\n"
	"                    that tests/koffdiff.c can say where a mismatch starts (slower)\n"
	"  -v, --verbose     print the verifier's complaints while koff-link retries\n"
	"  -h, --help        this text\n"
	"Options taking a value also take it as --name=value.  Anything else (-l, -L,\n"
	"-Wl,..., more objects) goes to the system linker ($KOFF_CC, default cc).\n";

enum { OPT_ENTRY = 256, OPT_PORT, OPT_CAP, OPT_LOOP, OPT_NOVERIFY, OPT_NOOFFLOAD, OPT_EXPLAIN,
       OPT_DUMPIR };

static int parse_uint(struct koff_ctx *ctx, const char *opt, const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v > max || s[0] == '-')
		return koff_fail(&ctx->err, -EINVAL, "%s: '%s' is not a number from 0 to %u", opt, s, max);
	*out = (unsigned)v;
	return 0;
}

static bool is_object(const char *arg)
{
	size_t n = strlen(arg);

	return arg[0] != '-' && n > 2 && !strcmp(arg + n - 2, ".o");
}

static int add_link_arg(struct koff_ctx *ctx, const char *arg, int *cap)
{
	if (koff_grow(&ctx->opt.link_args, cap, ctx->opt.nlink_args, sizeof(char *)))
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	ctx->opt.link_args[ctx->opt.nlink_args++] = arg;
	return 0;
}

static const char *const value_options[] = { "-o", "--entry", "--udp-port", "--resp-cap", "--loop-cap",
					     "--kernel", "--kernel-image", "--verify-on", "--trace", "--profile" };

/* The value option `a` names, also in the form --name=value (then *inline_val
 * points past the '='), or NULL. */
static const char *value_option(const char *a, const char **inline_val)
{
	const char *eq = strncmp(a, "--", 2) ? NULL : strchr(a, '=');
	size_t len = eq ? (size_t)(eq - a) : strlen(a);

	for (size_t i = 0; i < KOFF_ARRAY_SIZE(value_options); i++) {
		if (strlen(value_options[i]) == len && !strncmp(a, value_options[i], len)) {
			*inline_val = eq ? eq + 1 : NULL;
			return value_options[i];
		}
	}
	return NULL;
}

static int set_value_option(struct koff_ctx *ctx, const char *name, const char *val)
{
	struct koff_options *o = &ctx->opt;
	unsigned v;
	int rc = 0;

	if (!strcmp(name, "-o"))
		o->output = val;
	else if (!strcmp(name, "--entry"))
		o->entry = val, o->entry_given = true;
	else if (!strcmp(name, "--trace"))
		o->trace = val;
	else if (!strcmp(name, "--profile"))
		o->profile = val;
	else if (!strcmp(name, "--udp-port") && !(rc = parse_uint(ctx, name, val, 65535, &v)))
		o->udp_port = (int)v;
	else if (!strcmp(name, "--resp-cap") && !(rc = parse_uint(ctx, name, val, IR_RESP_MAX, &v)))
		o->resp_cap = v;
	else if (!strcmp(name, "--loop-cap") && !(rc = parse_uint(ctx, name, val, 1u << 20, &v)))
		o->loop_cap = v;
	else if (!strcmp(name, "--kernel"))
		o->kernel = val;
	else if (!strcmp(name, "--kernel-image"))
		o->kernel_image = val;
	else if (!strcmp(name, "--verify-on"))
		o->verify_on = val;
	return rc;
}

/* Known options are taken out; the rest, in order, is the link line. */
int options_parse(struct koff_ctx *ctx, int argc, char **argv)
{
	struct koff_options *o = &ctx->opt;
	int cap = 0, rc;

	o->entry = "handle_request";
	o->resp_cap = 1472;
	o->verify = true;
	o->offload = true;
	o->early_fallback = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *inline_val, *name;
		bool takes = true;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			exit(0);
		} else if ((name = value_option(a, &inline_val))) {
			const char *val = inline_val ? inline_val : i + 1 < argc ? argv[++i] : NULL;

			if (!val || !*val)
				return koff_fail(&ctx->err, -EINVAL, "%s needs a value (see --help)", name);
			if ((rc = set_value_option(ctx, name, val)))
				return rc;
			continue;
		} else if (!strcmp(a, "--no-verify")) {
			o->verify = false;
		} else if (!strcmp(a, "--no-offload")) {
			o->offload = false;
		} else if (!strcmp(a, "--force")) {
			o->force = true;
		} else if (!strcmp(a, "--no-early-fallback")) {
			o->early_fallback = false;
		} else if (!strcmp(a, "--explain")) {
			o->explain = true;
		} else if (!strcmp(a, "--dump-ir")) {
			o->dump_ir = true;
		} else if (!strcmp(a, "--dump-bpf")) {
			o->dump_bpf = true;
		} else if (!strcmp(a, "--record-path")) {
			o->record_path = true;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			o->verbose = true;
		} else if (!strncmp(a, "--", 2) && !strchr(a, '=') && strcmp(a, "--")) {
			/* Long options of ours that were mistyped should not reach cc. */
			return koff_fail(&ctx->err, -EINVAL, "unknown option %s (see --help)", a);
		} else {
			takes = false;
		}
		if (takes)
			continue;
		if (is_object(a) && !o->object)
			o->object = a;	/* until main.c finds the object defining the entry */
		if (add_link_arg(ctx, a, &cap))
			return -ENOMEM;
	}
	if (!o->output)
		return koff_fail(&ctx->err, -EINVAL, "no output: give -o OUT (see --help)");
	if (!o->object)
		return koff_fail(&ctx->err, -EINVAL, "no input object (.o) given (see --help)");
	if (o->force && !o->offload)
		return koff_fail(&ctx->err, -EINVAL, "--force and --no-offload contradict each other");
	if (o->resp_cap == 0)
		return koff_fail(&ctx->err, -EINVAL, "--resp-cap: must be at least 1");
	return 0;
}
