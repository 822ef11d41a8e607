/* bpfobj.h - writing the XDP program koff-link made as a BPF ELF object
 * (OUT.bpf.o) that libbpf and `bpftool prog load` accept as they accept
 * clang's output: an "xdp" program section, BTF-defined maps in ".maps",
 * the read-only image in ".rodata", a "license" and ".BTF". */
#ifndef KOFF_BPFOBJ_H
#define KOFF_BPFOBJ_H

#include <stddef.h>
#include <stdint.h>

#include "emit.h"
#include "koff.h"

/* Name of the global object symbol (and BTF VAR) covering .rodata. */
#define BPFOBJ_RODATA_SYM "koff_rodata"

/* Write e's finished instructions (emit_finish done) as the program
 * KOFF_PROG_NAME, with one relocation per e->maprefs entry, and `rodata`
 * (rodata_size bytes; 0 = no .rodata section, then no RODATA reference
 * may exist) as the frozen read-only map.
 * The file appears atomically: it is built in PATH.tmp.XXXXXX and renamed;
 * on failure no PATH and no temporary file are left behind.
 * Returns 0 or a negative errno with err filled, e.g.
 *   "out/app.bpf.o: cannot write: Permission denied". */
int bpfobj_write(const char *path, const struct bpf_emit *e,
		 const uint8_t *rodata, size_t rodata_size, struct koff_error *err);
/* The same, plus trace_table (KOFF_TRACE_SECTION's text) for --record-path builds. */
int bpfobj_write_traced(const char *path, const struct bpf_emit *e, const uint8_t *rodata,
			size_t rodata_size, const char *trace_table, size_t trace_table_size,
			struct koff_error *err);
/* The same, plus `identity` (NULL: none) as KOFF_IDENTITY_SECTION's text. */
int bpfobj_write_identified(const char *path, const struct bpf_emit *e, const uint8_t *rodata,
			    size_t rodata_size, const char *trace_table, size_t trace_table_size,
			    const char *identity, struct koff_error *err);

/* Everything optional in OUT.bpf.o. */
struct bpfobj_extras {
	const char *trace_table;	/* --record-path: KOFF_TRACE_SECTION's text, or NULL */
	size_t trace_table_size;
	const char *identity;		/* KOFF_IDENTITY_SECTION's text, or NULL */
	/* Shared state: the koff_shared map (BPF_MAP_TYPE_ARRAY, 1 entry,
	 * BPF_F_MMAPABLE, value_size bytes) and KOFF_SHARED_SECTION's text;
	 * NULL text = no such map (then no KOFF_MAPID_SHARED reference may exist). */
	uint64_t shared_value_size;
	const char *shared_text;
};
int bpfobj_write_extras(const char *path, const struct bpf_emit *e, const uint8_t *rodata,
			size_t rodata_size, const struct bpfobj_extras *x, struct koff_error *err);

#endif
