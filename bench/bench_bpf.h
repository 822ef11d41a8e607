/* bench_bpf.h - what the drivers that load a program object with libbpf
 * share (xdp_bench, icount): setting the reference programs' UDP port and
 * finding the XDP program of an object.  Header-only like bench_common.h;
 * the driver links -lbpf -lelf -lz. */
#ifndef BENCH_BPF_H
#define BENCH_BPF_H

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sets .rodata koff_udp_port (the reference programs' port) when present;
 * lifted programs have the port built in and no such variable. */
static inline void bench_set_port(struct bpf_object *obj, unsigned port)
{
	struct btf *btf = bpf_object__btf(obj);
	struct bpf_map *map;
	int sec_id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
	if (sec_id < 0)
		return;
	const struct btf_type *sec = btf__type_by_id(btf, sec_id);
	const struct btf_var_secinfo *vs = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);
		if (strcmp(btf__name_by_offset(btf, var->name_off), "koff_udp_port") || vs->size != 2)
			continue;
		bpf_object__for_each_map(map, obj) {
			size_t len = strlen(bpf_map__name(map)), size;
			if (len < 7 || strcmp(bpf_map__name(map) + len - 7, ".rodata"))
				continue;
			const void *init = bpf_map__initial_value(map, &size);
			uint8_t *copy = init ? malloc(size) : NULL;
			if (!copy)
				return;
			memcpy(copy, init, size);
			uint16_t v = (uint16_t)port;
			memcpy(copy + vs->offset, &v, 2);
			bpf_map__set_initial_value(map, copy, size);
			free(copy);
		}
	}
}

/* The object's first XDP program, or NULL. */
static inline struct bpf_program *bench_xdp_program(struct bpf_object *obj)
{
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, obj)
		if (bpf_program__type(prog) == BPF_PROG_TYPE_XDP)
			return prog;
	return NULL;
}

/* Opens path (not yet loaded) with the reference port set, and finds its
 * XDP program; on failure says why, as `tool: path: ...`, and returns
 * -errno. */
static inline int bench_open_xdp(const char *tool, const char *path, unsigned port, struct bpf_object **obj,
				 struct bpf_program **xdp)
{
	*obj = bpf_object__open_file(path, NULL);
	if (!*obj) {
		int err = -errno;
		fprintf(stderr, "%s: %s: %s\n", tool, path, strerror(-err));
		return err;
	}
	bench_set_port(*obj, port);
	*xdp = bench_xdp_program(*obj);
	if (!*xdp) {
		fprintf(stderr, "%s: %s: no XDP program\n", tool, path);
		return -ENOENT;
	}
	return 0;
}

#endif
