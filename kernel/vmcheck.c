/* vmcheck.c - verification and feature probes in a guest (vm.h): run
 * koff-vmagent there and read its record (vmagent.h) back into the same
 * structures the host-side functions fill. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target.h"
#include "vm.h"
#include "vmagent.h"

/* A run of 1M processed instructions takes tens of seconds under TCG. */
#define VERIFY_TIMEOUT_SEC 300
#define PROBE_TIMEOUT_SEC 120

/* The agent's record, as read back. */
struct agent_record {
	char release[128];
	int rc;
	struct bpf_verdict v;
	uint64_t features;
	char msg[sizeof(((struct koff_error *)0)->msg)];
};

const char *vm_agent_path(char *buf, size_t len)
{
	const char *env = getenv("KOFF_VMAGENT");
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env && *env)
		return access(env, X_OK) == 0 && (size_t)snprintf(buf, len, "%s", env) < len ? buf : NULL;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	if ((size_t)snprintf(buf, len, "%s/" VMAGENT_NAME, exe) >= len || access(buf, X_OK))
		return NULL;
	return buf;
}

static void parse_hot(const char *list, struct bpf_verdict *v)
{
	char *end;

	v->nhot = 0;
	for (long n = strtol(list, &end, 10); end != list && v->nhot < (int)KOFF_ARRAY_SIZE(v->hot_insns);
	     n = strtol(list, &end, 10)) {
		v->hot_insns[v->nhot++] = (int)n;
		list = end;
	}
}

static void parse_features(char *list, uint64_t *features)
{
	char *save = NULL;

	for (char *name = strtok_r(list, " ", &save); name; name = strtok_r(NULL, " ", &save))
		for (int f = 0; f < KFEAT__COUNT; f++)
			if (!strcmp(name, kfeature_name((enum koff_kfeature)f)))
				*features |= KFEAT_BIT(f);
}

/* One "key value" line; `log N` is followed by N raw bytes. */
static int parse_field(struct agent_record *a, char *key, char *value, const char **rest,
		       const char *end)
{
	if (!strcmp(key, "release"))
		snprintf(a->release, sizeof(a->release), "%s", value);
	else if (!strcmp(key, "rc"))
		a->rc = atoi(value);
	else if (!strcmp(key, "loaded"))
		a->v.loaded = atoi(value) != 0;
	else if (!strcmp(key, "processed"))
		a->v.processed_insns = (unsigned)strtoul(value, NULL, 10);
	else if (!strcmp(key, "prog_insns"))
		a->v.prog_insns = (unsigned)strtoul(value, NULL, 10);
	else if (!strcmp(key, "fail_insn"))
		a->v.fail_insn = atoi(value);
	else if (!strcmp(key, "hot"))
		parse_hot(value, &a->v);
	else if (!strcmp(key, "features"))
		parse_features(value, &a->features);
	else if (!strcmp(key, "msg"))
		snprintf(a->msg, sizeof(a->msg), "%s", value);
	else if (!strcmp(key, "log")) {
		size_t n = strtoul(value, NULL, 10);

		if (n > (size_t)(end - *rest))
			return -EIO;
		if (n && !(a->v.log = strndup(*rest, n)))
			return -ENOMEM;
		*rest += n;
	}
	return 0;
}

/* Reads the record out of the script's output; -EIO when there is none
 * or it is cut short. */
static int parse_record(const struct vm_result *r, struct agent_record *a)
{
	const char *p = r->output ? strstr(r->output, VMAGENT_MAGIC) : NULL;
	const char *end = r->output + r->output_len;
	char line[sizeof(a->msg) + 32];
	int rc = 0;

	memset(a, 0, sizeof(*a));
	a->v.fail_insn = -1;
	if (!p)
		return -EIO;
	for (p += strlen(VMAGENT_MAGIC); p < end && !rc;) {
		size_t n = strcspn(p, "\n");
		char *space;

		snprintf(line, sizeof(line), "%.*s", (int)n, p);
		p += n + (p[n] == '\n');
		if (!strcmp(line, "end"))
			return 0;
		space = strchr(line, ' ');
		if (space)
			*space = '\0';
		rc = parse_field(a, line, space ? space + 1 : (char *)"", &p, end);
	}
	return rc ? rc : -EIO;
}

/* The first line the guest printed, for "the agent said nothing useful". */
static void first_output_line(const struct vm_result *r, char *buf, size_t len)
{
	const char *out = r->output ? r->output : "";

	snprintf(buf, len, "%.*s", (int)strcspn(out, "\n"), out);
}

/* Runs the agent with `args` in a guest; fills *a. */
static int run_agent(const char *image, const char *args, const struct vm_file *extra,
		     unsigned timeout, struct agent_record *a, struct koff_error *err)
{
	char agent[PATH_MAX], script[256], first[160];
	struct vm_file files[2] = { { .guest = VMAGENT_GUEST_PATH } };
	struct vm_run_opts o = { .image = image, .script = script, .files = files, .nfiles = 1,
				 .timeout_sec = timeout };
	struct vm_result r;
	int rc;

	memset(a, 0, sizeof(*a));
	a->v.fail_insn = -1;
	if (!vm_agent_path(agent, sizeof(agent)))
		return koff_fail(err, -ENOENT, VMAGENT_NAME " not found beside this program (make builds it)");
	files[0].host = agent;
	if (extra)
		files[o.nfiles++] = *extra;
	snprintf(script, sizeof(script), VMAGENT_GUEST_PATH " %s\n", args);
	rc = vm_run(&o, &r, err);
	if (!rc && (rc = parse_record(&r, a)) == -EIO) {
		first_output_line(&r, first, sizeof(first));
		rc = koff_fail(err, -EIO, "%s: " VMAGENT_NAME " gave no verdict (exit %d%s%s)", image,
			       r.exit_code, first[0] ? ": " : "", first);
	} else if (rc == -ENOMEM) {
		rc = koff_fail(err, rc, "out of memory");
	}
	vm_result_free(&r);
	return rc;
}

/* The agent's message with the guest's object path replaced by the host's,
 * and the guest's release added. */
static int report_agent_error(const struct agent_record *a, const char *host_path,
			      struct koff_error *err)
{
	const char *msg = a->msg;
	size_t guest_len = strlen(VMAGENT_GUEST_OBJ);

	if (host_path && !strncmp(msg, VMAGENT_GUEST_OBJ, guest_len))
		return koff_fail(err, a->rc, "%s%s (kernel %s)", host_path, msg + guest_len, a->release);
	return koff_fail(err, a->rc, "%s (kernel %s)", msg[0] ? msg : "the agent failed", a->release);
}

int vm_verify_object(const char *image, const char *bpf_obj_path, struct bpf_verdict *v,
		     struct koff_error *err)
{
	struct vm_file obj = { .host = bpf_obj_path, .guest = VMAGENT_GUEST_OBJ };
	struct agent_record a;
	int rc;

	memset(v, 0, sizeof(*v));
	v->fail_insn = -1;
	if (access(bpf_obj_path, R_OK))
		return koff_fail(err, -errno, "%s: %s", bpf_obj_path, strerror(errno));
	rc = run_agent(image, "verify " VMAGENT_GUEST_OBJ, &obj, VERIFY_TIMEOUT_SEC, &a, err);
	if (rc) {
		bpf_verdict_free(&a.v);
		return rc;
	}
	*v = a.v;
	return a.rc ? report_agent_error(&a, bpf_obj_path, err) : 0;
}

int vm_probe_features(const char *image, uint64_t *features, char *release, size_t release_len,
		      struct koff_error *err)
{
	struct agent_record a;
	int rc = run_agent(image, "probe", NULL, PROBE_TIMEOUT_SEC, &a, err);

	bpf_verdict_free(&a.v);
	*features = a.features;
	if (release && release_len)
		snprintf(release, release_len, "%s", a.release);
	if (rc)
		return rc;
	return a.rc ? report_agent_error(&a, NULL, err) : 0;
}
