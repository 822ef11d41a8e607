/* kernels.c - which kernel the offload targets (--kernel) and where
 * koff-link verifies it (--verify-on): the running kernel, or a target's
 * kernel booted in a VM (kernel/vm.h).
 *
 * The default target is `portable` (every kernel from 6.1 to the newest),
 * verified on the running kernel.  `--kernel SERIES` verifies in SERIES's
 * kernel image (kernel/fetch-kernel.sh puts Debian's there; --kernel-image
 * names another), because the build host is not where the program runs;
 * `--kernel host` probes the running kernel and verifies there.  A place
 * where verification is impossible (no image, no CAP_BPF) is reported as
 * "not verified on X", never passed off as verified. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "vm.h"

int target_probe_host(struct kernel_target *t, struct koff_error *err)
{
	uint64_t features = 0;
	int rc = kernel_probe_features(&features, err);

	if (rc)
		return rc;
	*t = (struct kernel_target){ .name = "host", .seen_in = "the running kernel",
				     .features = features, .insn_budget = 1000000 };
	return 0;
}

/* "5.15 6.1 ... 6.18": the series of the table, for messages. */
static const char *series_list(char *buf, size_t len)
{
	int n, used = 0;
	const struct kernel_target *t = target_table(&n);

	buf[0] = '\0';
	for (int i = 0; i < n && used >= 0 && (size_t)used < len; i++)
		used += snprintf(buf + used, len - (size_t)used, "%s%s", i ? " " : "", t[i].name);
	return buf;
}

static int add_place(struct koff_ctx *ctx, const char *name)
{
	struct verify_place *p;
	char series[128];

	for (int i = 0; i < ctx->nplaces; i++)
		if (!strcmp(ctx->places[i].name, name))
			return 0;
	if (ctx->nplaces >= (int)KOFF_ARRAY_SIZE(ctx->places))
		return koff_fail(&ctx->err, -E2BIG, "--verify-on: at most %d kernels",
				 (int)KOFF_ARRAY_SIZE(ctx->places));
	if (strcmp(name, "host") && !target_find(name))
		return koff_fail(&ctx->err, -EINVAL, "--verify-on: unknown kernel '%s' (host or a series: %s)",
				 name, series_list(series, sizeof(series)));
	p = &ctx->places[ctx->nplaces++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	return 0;
}

/* "host,6.1,6.12" */
static int parse_places(struct koff_ctx *ctx, const char *list)
{
	char *copy = strdup(list), *save = NULL;
	int rc = 0;

	if (!copy)
		return koff_fail(&ctx->err, -ENOMEM, "out of memory");
	for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save))
		rc = add_place(ctx, tok);
	free(copy);
	return rc;
}

/* Where the image for place p comes from: --kernel-image for the target's
 * own series, else the cache.  Leaves p->image empty when there is none. */
static void find_image(struct koff_ctx *ctx, struct verify_place *p)
{
	const struct kernel_target *t = target_find(p->name);

	if (ctx->opt.kernel_image && !strcmp(p->name, ctx->target.name)) {
		snprintf(p->image, sizeof(p->image), "%s", ctx->opt.kernel_image);
		return;
	}
	if (t && t->image_series && vm_image_for(t->image_series, p->image, sizeof(p->image)))
		return;
	p->image[0] = '\0';
	snprintf(p->note, sizeof(p->note),
		 "not verified on %s: no kernel image (run kernel/fetch-kernel.sh %s, or give --kernel-image)",
		 p->name, t && t->image_series ? t->image_series : p->name);
}

int kernels_choose(struct koff_ctx *ctx)
{
	/* --record-path is a diagnostic of this machine, and its path records
	 * need may_goto's shape: it targets the running kernel. */
	const char *name = ctx->opt.kernel ? ctx->opt.kernel : ctx->opt.record_path ? "host" : "portable";
	const struct kernel_target *t;
	char series[128];
	int rc;

	if (!strcmp(name, "host")) {
		rc = target_probe_host(&ctx->target, &ctx->err);
		if (rc)
			return koff_fail(&ctx->err, rc, "--kernel host: %s", ctx->err.msg);
	} else if ((t = target_find(name))) {
		ctx->target = *t;
	} else {
		return koff_fail(&ctx->err, -EINVAL,
				 "--kernel: unknown kernel '%s' (host, portable, or a series: %s)", name,
				 series_list(series, sizeof(series)));
	}
	if (ctx->opt.verify_on)
		rc = parse_places(ctx, ctx->opt.verify_on);
	else
		rc = add_place(ctx, !strcmp(ctx->target.name, "portable") ? "host" : ctx->target.name);
	if (rc)
		return rc;
	for (int i = 0; i < ctx->nplaces; i++) {
		struct verify_place *p = &ctx->places[i];
		bool host = !strcmp(p->name, "host");

		if (!host)
			find_image(ctx, p);
		p->is_target = !strcmp(p->name, ctx->target.name) || (host && ctx->host_is_target);
	}
	return 0;
}

/* Verify ctx->tmp_bpf at place p.  Same contract as bpf_verify_object;
 * detail on the host only: the guest's agent always locates. */
static int verify_at(struct koff_ctx *ctx, struct verify_place *p, enum verify_detail detail,
		     struct koff_error *verr)
{
	if (!strcmp(p->name, "host"))
		return bpf_verify_object(ctx->tmp_bpf, detail, &ctx->verdict, verr);
	return vm_verify_object(p->image, ctx->tmp_bpf, &ctx->verdict, verr);
}

static bool can_verify(const struct verify_place *p)
{
	return !strcmp(p->name, "host") || p->image[0];
}

/* Whether rc is the verifier's word, or only that none could be had here:
 * no BPF rights on the host; a guest that did not boot, timed out, or had no
 * agent (kernel/vm.h).  Those are "not verified", never a rejection. */
static bool verifier_answered(const struct verify_place *p, int rc, const struct koff_ctx *ctx,
			      const struct koff_error *verr)
{
	if (rc == -EPERM && !ctx->verdict.loaded && strstr(verr->msg, "cannot load BPF here"))
		return false;
	if (strcmp(p->name, "host") &&
	    (rc == -ETIMEDOUT || rc == -EIO || rc == -ENOENT || rc == -ECANCELED))
		return false;
	return true;
}

int kernels_verify(struct koff_ctx *ctx, enum verify_detail detail, struct koff_error *verr,
		   const char **where)
{
	int rc;

	for (int i = 0; i < ctx->nplaces; i++) {
		struct verify_place *p = &ctx->places[i];

		if (!can_verify(p))
			continue;
		bpf_verdict_free(&ctx->verdict);
		memset(verr, 0, sizeof(*verr));
		*where = p->name;
		rc = verify_at(ctx, p, detail, verr);
		p->done = true;
		p->accepted = rc == 0;
		p->processed = ctx->verdict.processed_insns;
		if (!verifier_answered(p, rc, ctx, verr)) {
			snprintf(p->note, sizeof(p->note), "not verified on %s: %.200s", p->name, verr->msg);
			p->done = false;
			continue;
		}
		if (rc)
			return rc;
	}
	return 0;
}

bool kernels_target_verified(const struct koff_ctx *ctx, bool accepted)
{
	for (int i = 0; i < ctx->nplaces; i++) {
		const struct verify_place *p = &ctx->places[i];

		if (p->is_target && can_verify(p) && (!accepted || (p->done && p->accepted)))
			return true;
	}
	return false;
}

bool kernels_any_verified(const struct koff_ctx *ctx)
{
	for (int i = 0; i < ctx->nplaces; i++)
		if (ctx->places[i].done && ctx->places[i].accepted)
			return true;
	return false;
}

void kernels_why_unverified(const struct koff_ctx *ctx, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < ctx->nplaces && used < len; i++)
		if (ctx->places[i].note[0])
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "; " : "",
						 ctx->places[i].note);
}
