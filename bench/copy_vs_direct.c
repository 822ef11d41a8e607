/* copy_vs_direct.c - runs bench/copy_vs_direct.bpf.o's two programs with
 * bpf_prog_test_run on UDP packets of several payload sizes and prints the
 * median ns per run of each (15 rounds of 200000 repeats).
 * Usage: copy_vs_direct PROG.bpf.o */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 15

static int cmp_u32(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return (x > y) - (x < y);
}

static unsigned median_ns(int fd, unsigned char *pkt, size_t n)
{
	unsigned t[ROUNDS];

	for (int r = 0; r < ROUNDS; r++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (unsigned)n,
			    .repeat = 200000);
		if (bpf_prog_test_run_opts(fd, &o) || o.retval != XDP_PASS) {
			fprintf(stderr, "test_run failed (retval %u)\n", o.retval);
			exit(1);
		}
		t[r] = o.duration;
	}
	qsort(t, ROUNDS, sizeof(t[0]), cmp_u32);
	return t[ROUNDS / 2];
}

int main(int argc, char **argv)
{
	static const int sizes[] = { 32, 64, 128, 256, 512, 1024 };
	struct bpf_object *obj;
	int direct, copy;

	if (argc != 2) {
		fprintf(stderr, "usage: copy_vs_direct PROG.bpf.o\n");
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "cannot load %s\n", argv[1]);
		return 1;
	}
	direct = bpf_program__fd(bpf_object__find_program_by_name(obj, "sum_direct"));
	copy = bpf_program__fd(bpf_object__find_program_by_name(obj, "sum_copy"));
	printf("payload_bytes direct_ns copy_ns copy/direct\n");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = 42 + (size_t)sizes[i];
		unsigned char *pkt = calloc(1, n);
		unsigned d, c;

		for (size_t k = 42; k < n; k++)
			pkt[k] = (unsigned char)(k * 7);
		pkt[12] = 0x08;
		pkt[38] = (unsigned char)((sizes[i] + 8) >> 8);
		pkt[39] = (unsigned char)(sizes[i] + 8);
		d = median_ns(direct, pkt, n);
		c = median_ns(copy, pkt, n);
		printf("%13d %9u %7u %11.2f\n", sizes[i], d, c, (double)c / d);
		free(pkt);
	}
	bpf_object__close(obj);
	return 0;
}
