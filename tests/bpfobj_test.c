/* bpfobj_test.c - helper of tests/t-bpfobj.sh: emits small XDP programs
 * with bpfgen/emit.h, writes them with bpfobj_write and checks them with
 * bpf_verify_object.  Every mode exits 0 when its assertions hold.
 *
 *   bpfobj_test write OUT [--no-rodata]  write the sample program
 *   bpfobj_test verify-good OUT          write it, verify: accepted, counted
 *   bpfobj_test verify-bad-uninit OUT    a read of uninitialised r3: rejected there
 *   bpfobj_test verify-bad-oob OUT       a read past the scratch value: rejected there
 *   bpfobj_test verify-bad-long OUT      the same as -uninit after 600k insns (log overflows)
 *   bpfobj_test verify-noperm OUT        run unprivileged: "cannot load BPF here"
 *   bpfobj_test unwritable DIR           writes that must fail cleanly
 *   bpfobj_test unwritable-ro DIR        DIR is a read-only mount
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpfobj.h"
#include "emit.h"
#include "ir.h"
#include "koff_abi.h"
#include "verify.h"

/* The sample program passes only when it reads this value at this offset
 * of .rodata; every other byte there differs from it. */
#define RODATA_SIZE 64
#define RODATA_PROBE_OFF 37
#define RODATA_PROBE_VALUE 0xa5

static int failures;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                     \
			fputc('\n', stderr);                              \
			failures++;                                       \
		}                                                         \
	} while (0)

static void fill_rodata(uint8_t *rodata)
{
	for (int i = 0; i < RODATA_SIZE; i++)
		rodata[i] = (uint8_t)i;
	rodata[RODATA_PROBE_OFF] = RODATA_PROBE_VALUE;
}

/* r0 = bpf_map_lookup_elem(map, &key); jump to `missing` when NULL. */
static void emit_lookup(struct bpf_emit *e, enum koff_map_id map, int32_t key, int missing)
{
	emit_st_imm(e, BPF_W, BPF_REG_10, -4, key);
	emit_ld_map(e, BPF_REG_1, map, 0);
	emit_mov_reg(e, BPF_REG_2, BPF_REG_10);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_2, -4);
	emit_call(e, BPF_FUNC_map_lookup_elem);
	emit_jmp_imm(e, 0, BPF_JEQ, BPF_REG_0, 0, missing);
}

static void emit_return(struct bpf_emit *e, int32_t verdict)
{
	emit_mov_imm(e, BPF_REG_0, verdict);
	emit_exit(e);
}

/* Touch scratch, count PASS_OTHER, pass iff .rodata[PROBE_OFF] is right. */
static void emit_sample(struct bpf_emit *e, bool with_rodata)
{
	int drop = emit_label(e);

	emit_lookup(e, KOFF_MAPID_SCRATCH, 0, drop);
	emit_st_imm(e, BPF_B, BPF_REG_0, IR_RESP_OFF, 1);
	emit_lookup(e, KOFF_MAPID_STATS, KOFF_STAT_PASS_OTHER, drop);
	emit_ldx(e, BPF_DW, BPF_REG_1, BPF_REG_0, 0);
	emit_alu_imm(e, 1, BPF_ADD, BPF_REG_1, 1);
	emit_stx(e, BPF_DW, BPF_REG_0, 0, BPF_REG_1);
	if (with_rodata) {
		emit_ld_map(e, BPF_REG_1, KOFF_MAPID_RODATA, RODATA_PROBE_OFF);
		emit_ldx(e, BPF_B, BPF_REG_2, BPF_REG_1, 0);
		emit_jmp_imm(e, 0, BPF_JNE, BPF_REG_2, RODATA_PROBE_VALUE, drop);
	}
	emit_return(e, XDP_PASS);
	emit_bind(e, drop);
	emit_return(e, XDP_DROP);
}

/* Returns the index of the instruction the verifier must reject. */
static int emit_uninit_read(struct bpf_emit *e)
{
	int bad;

	emit_ld_map(e, BPF_REG_1, KOFF_MAPID_STATS, 0);
	emit_mov_imm(e, BPF_REG_0, XDP_PASS);
	bad = e->n;
	emit_alu_reg(e, 1, BPF_ADD, BPF_REG_0, BPF_REG_3);
	emit_exit(e);
	return bad;
}

static int emit_out_of_bounds(struct bpf_emit *e)
{
	int drop = emit_label(e);
	int bad;

	emit_lookup(e, KOFF_MAPID_SCRATCH, 0, drop);
	bad = e->n;
	emit_ldx(e, BPF_B, BPF_REG_1, BPF_REG_0, IR_SCRATCH_SIZE);
	emit_return(e, XDP_PASS);
	emit_bind(e, drop);
	emit_return(e, XDP_DROP);
	return bad;
}

/* So long that its full verifier log (~20 bytes per insn) overflows the
 * verifier's log buffer: the rejection must still be found in the tail. */
static int emit_long_then_uninit_read(struct bpf_emit *e)
{
	int bad;

	emit_mov_imm(e, BPF_REG_0, 0);
	for (int i = 0; i < 600000; i++)
		emit_alu_imm(e, 1, BPF_ADD, BPF_REG_0, 1);
	bad = e->n;
	emit_alu_reg(e, 1, BPF_ADD, BPF_REG_0, BPF_REG_3);
	emit_exit(e);
	return bad;
}

static int write_program(const char *path, struct bpf_emit *e, bool with_rodata)
{
	uint8_t rodata[RODATA_SIZE];
	struct koff_error err = { 0 };
	int ret;

	fill_rodata(rodata);
	if (emit_finish(e)) {
		fprintf(stderr, "emit_finish failed: %d\n", e->err);
		return 1;
	}
	ret = bpfobj_write(path, e, rodata, with_rodata ? sizeof(rodata) : 0, &err);
	if (ret)
		fprintf(stderr, "bpfobj_write: %d: %s\n", ret, err.msg);
	return ret ? 1 : 0;
}

/* BPF objects this process still holds: verification must leave none. */
static int count_bpf_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char link[300], target[128];
		ssize_t len;

		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (strstr(target, "bpf-prog") || strstr(target, "bpf-map"))
			n++;
	}
	closedir(d);
	return n;
}

static int mode_write(const char *path, bool with_rodata)
{
	struct bpf_emit e;
	int ret;

	emit_init(&e);
	emit_sample(&e, with_rodata);
	ret = write_program(path, &e, with_rodata);
	emit_free(&e);
	return ret;
}

static int mode_verify_good(const char *path)
{
	struct bpf_emit e;
	struct bpf_verdict v;
	struct koff_error err = { 0 };
	int ret;

	emit_init(&e);
	emit_sample(&e, true);
	if (write_program(path, &e, true))
		return 1;
	CHECK(bpf_can_load(), "root should be able to load BPF");
	ret = bpf_verify_object(path, VERIFY_LOCATE_REJECTION, &v, &err);
	CHECK(ret == 0, "ret %d: %s", ret, err.msg);
	CHECK(v.loaded, "not loaded");
	CHECK(v.processed_insns > 0, "processed %u", v.processed_insns);
	CHECK(v.prog_insns == (unsigned)e.n, "prog_insns %u, emitted %d", v.prog_insns, e.n);
	CHECK(v.fail_insn == -1, "fail_insn %d", v.fail_insn);
	CHECK(v.log && strstr(v.log, "processed "), "log: %s", v.log ? v.log : "(null)");
	CHECK(count_bpf_fds() == 0, "%d BPF fds still open", count_bpf_fds());
	printf("accepted: processed %u insns, %u insns loaded\n", v.processed_insns, v.prog_insns);
	bpf_verdict_free(&v);
	emit_free(&e);
	return failures != 0;
}

static int mode_verify_bad(const char *path, int (*emit_bad)(struct bpf_emit *),
			   const char *expect_in_log)
{
	struct bpf_emit e;
	struct bpf_verdict v;
	struct koff_error err = { 0 };
	int bad, ret;

	emit_init(&e);
	bad = emit_bad(&e);
	if (write_program(path, &e, true))
		return 1;
	ret = bpf_verify_object(path, VERIFY_LOCATE_REJECTION, &v, &err);
	CHECK(ret < 0, "ret %d", ret);
	CHECK(err.code == ret, "err.code %d", err.code);
	CHECK(!v.loaded, "a broken program loaded");
	CHECK(v.fail_insn == bad, "fail_insn %d, expected %d", v.fail_insn, bad);
	CHECK(v.log && strstr(v.log, expect_in_log), "log lacks '%s': %s", expect_in_log,
	      v.log ? v.log : "(null)");
	CHECK(strstr(err.msg, "verifier rejected koff_xdp at insn") && strstr(err.msg, expect_in_log),
	      "message: %s", err.msg);
	CHECK(!strchr(err.msg, '\n'), "message is not one line: %s", err.msg);
	CHECK(count_bpf_fds() == 0, "%d BPF fds still open", count_bpf_fds());
	printf("rejected at insn %d (expected %d): %s\n", v.fail_insn, bad, err.msg);
	bpf_verdict_free(&v);
	/* Verdict only: the same complaint from the statistics pass, no place. */
	memset(&err, 0, sizeof(err));
	ret = bpf_verify_object(path, VERIFY_VERDICT_ONLY, &v, &err);
	CHECK(ret < 0 && !v.loaded, "verdict only: ret %d, loaded %d", ret, v.loaded);
	CHECK(v.fail_insn == -1 && v.nhot == 0, "verdict only located it: insn %d", v.fail_insn);
	CHECK(strstr(err.msg, "verifier rejected koff_xdp: ") && strstr(err.msg, expect_in_log),
	      "verdict only, message: %s", err.msg);
	CHECK(count_bpf_fds() == 0, "%d BPF fds still open", count_bpf_fds());
	bpf_verdict_free(&v);
	emit_free(&e);
	return failures != 0;
}

static int mode_verify_uninit(const char *path)
{
	return mode_verify_bad(path, emit_uninit_read, "R3 !read_ok");
}

static int mode_verify_oob(const char *path)
{
	return mode_verify_bad(path, emit_out_of_bounds, "invalid access to map value");
}

static int mode_verify_long(const char *path)
{
	return mode_verify_bad(path, emit_long_then_uninit_read, "R3 !read_ok");
}

/* Run without privileges: verification must say so, not crash or lie. */
static int mode_verify_noperm(const char *path)
{
	struct bpf_verdict v;
	struct koff_error err = { 0 };
	int ret;

	CHECK(!bpf_can_load(), "an unprivileged process claims it can load BPF");
	ret = bpf_verify_object(path, VERIFY_LOCATE_REJECTION, &v, &err);
	CHECK(ret == -EPERM, "ret %d: %s", ret, err.msg);
	CHECK(!v.loaded && v.fail_insn == -1 && !v.log, "verdict filled without verifying");
	CHECK(!strncmp(err.msg, "cannot load BPF here: ", 22), "message: %s", err.msg);
	printf("%s\n", err.msg);
	bpf_verdict_free(&v);
	return failures != 0;
}

/* Entries of dir other than . and .. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* A write to `path` must fail with `code` and the message "PATH: cannot write: ...". */
static void expect_write_failure(const char *path, int code)
{
	struct bpf_emit e;
	struct koff_error err = { 0 };
	uint8_t rodata[RODATA_SIZE];
	char want[600];
	int ret;

	emit_init(&e);
	emit_sample(&e, true);
	emit_finish(&e);
	fill_rodata(rodata);
	ret = bpfobj_write(path, &e, rodata, sizeof(rodata), &err);
	snprintf(want, sizeof(want), "%s: cannot write: %s", path, strerror(-code));
	CHECK(ret == code, "%s: ret %d, expected %d", path, ret, code);
	CHECK(err.code == code, "err.code %d", err.code);
	CHECK(!strcmp(err.msg, want), "message '%s', expected '%s'", err.msg, want);
	printf("%s\n", err.msg);
	emit_free(&e);
}

static int mode_unwritable(const char *dir)
{
	char path[512], sub[512];
	struct bpf_emit e;
	struct koff_error err = { 0 };

	/* No such directory. */
	snprintf(path, sizeof(path), "%s/missing/out.bpf.o", dir);
	expect_write_failure(path, -ENOENT);
	/* A directory stands where the file should go: rename fails after
	 * the whole temporary file was written, which must then vanish. */
	snprintf(sub, sizeof(sub), "%s/isdir", dir);
	CHECK(mkdir(sub, 0755) == 0, "mkdir %s", sub);
	snprintf(path, sizeof(path), "%s/isdir", dir);
	expect_write_failure(path, -EISDIR);
	CHECK(count_entries(dir) == 1, "%s holds %d entries, expected only isdir", dir,
	      count_entries(dir));
	CHECK(count_entries(sub) == 0, "%s is not empty", sub);

	/* A .rodata reference without .rodata is refused before any file exists. */
	emit_init(&e);
	emit_sample(&e, true);
	emit_finish(&e);
	snprintf(path, sizeof(path), "%s/norodata.bpf.o", dir);
	CHECK(bpfobj_write(path, &e, NULL, 0, &err) == -EINVAL, "no rodata accepted");
	CHECK(strstr(err.msg, "reads .rodata, but there is none"), "message: %s", err.msg);
	CHECK(access(path, F_OK) != 0, "%s exists", path);
	printf("%s\n", err.msg);
	emit_free(&e);
	return failures != 0;
}

static int mode_unwritable_ro(const char *dir)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/out.bpf.o", dir);
	expect_write_failure(path, -EROFS);
	CHECK(count_entries(dir) == 0, "%s is not empty", dir);
	return failures != 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s MODE PATH\n", argv[0]);
		return 2;
	}
	if (!strcmp(argv[1], "write"))
		return mode_write(argv[2], !(argc > 3 && !strcmp(argv[3], "--no-rodata")));
	if (!strcmp(argv[1], "verify-good"))
		return mode_verify_good(argv[2]);
	if (!strcmp(argv[1], "verify-bad-uninit"))
		return mode_verify_uninit(argv[2]);
	if (!strcmp(argv[1], "verify-bad-oob"))
		return mode_verify_oob(argv[2]);
	if (!strcmp(argv[1], "verify-bad-long"))
		return mode_verify_long(argv[2]);
	if (!strcmp(argv[1], "verify-noperm"))
		return mode_verify_noperm(argv[2]);
	if (!strcmp(argv[1], "unwritable"))
		return mode_unwritable(argv[2]);
	if (!strcmp(argv[1], "unwritable-ro"))
		return mode_unwritable_ro(argv[2]);
	fprintf(stderr, "unknown mode %s\n", argv[1]);
	return 2;
}
