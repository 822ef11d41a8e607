/* bpfobj.c - write the emitted XDP program as a BPF ELF relocatable object.
 *
 * The object mirrors what clang -target bpf makes of
 *
 *	struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __type(key, __u32);
 *		 __type(value, struct koff_scratch_area); __uint(max_entries, 1);
 *	} koff_scratch SEC(".maps");
 *	struct { ...PERCPU_ARRAY, __u32 -> __u64, KOFF_STAT__COUNT } koff_stats SEC(".maps");
 *	const unsigned char koff_rodata[N] = { ... };
 *	SEC("xdp") int koff_xdp(struct xdp_md *ctx) { ... }
 *	char _license[] SEC("license") = "GPL";
 *
 * because libbpf only understands maps through that BTF encoding, and
 * staying close to clang keeps bpftool and every other libbpf user happy.
 * Sections, in file order:
 *	xdp, .relxdp, [.text, .rel.text], .maps, [.rodata], license, [.koff.trace],
 *	[.koff.identity], .BTF, [.BTF.ext], .symtab, .strtab
 * (.strtab doubles as the section-name table, as in clang's output).
 *
 * A program with a bpf_loop callback (kernels without may_goto, see
 * codegen.c) has it as the static function koff_loop_body in .text, where
 * libbpf looks for subprograms, referenced from xdp by a ld_imm64
 * BPF_PSEUDO_FUNC with a relocation against the .text section symbol, as
 * clang does.  The kernel refuses a callback without BTF func_info ("missing
 * btf func_info"), so such an object also has .BTF.ext: one func_info and
 * one line_info record at the start of each function.
 */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <elfutils/libdwelf.h>

#include "bpfobj.h"
#include "ir.h"
#include "koff_abi.h"

/* A BTF-defined map is four pointers: type, key, value, max_entries. */
#define MAP_DEF_SIZE 32u
#define LICENSE "GPL"

_Static_assert(IR_REQ_OFF == 0 && IR_RESP_OFF == IR_REQ_OFF + IR_REQ_MAX &&
	       IR_STACK_OFF == IR_RESP_OFF + IR_RESP_MAX &&
	       IR_PRIV_OFF == IR_STACK_OFF + IR_STACK_SIZE &&
	       IR_SCRATCH_SIZE == IR_PRIV_OFF + IR_PRIV_SIZE,
	       "scratch BTF assumes req | resp | stack laid out back to back");

enum out_sec {
	OUT_XDP, OUT_RELXDP, OUT_TEXT, OUT_RELTEXT, OUT_MAPS, OUT_RODATA, OUT_LICENSE, OUT_BTF,
	OUT_BTF_EXT, OUT_TRACE_TABLE, OUT_IDENTITY, OUT_SHARED_TEXT, OUT_SYMTAB, OUT_STRTAB, OUT__COUNT
};

static const char *const out_sec_names[OUT__COUNT] = {
	"xdp", ".relxdp", ".text", ".rel.text", ".maps", ".rodata", "license", ".BTF", ".BTF.ext",
	KOFF_TRACE_SECTION, KOFF_IDENTITY_SECTION, KOFF_SHARED_SECTION, ".symtab", ".strtab",
};

/* Symbols, in symtab order: locals first, then globals. */
enum out_sym {
	SYM_NULL, SYM_XDP_SECTION, SYM_TEXT_SECTION, SYM_LOOP_BODY,	/* locals */
	SYM_PROG, SYM_SCRATCH, SYM_STATS, SYM_TRACE, SYM_SHARED, SYM_RODATA, SYM_LICENSE, /* globals */
	SYM__COUNT
};

#define LOOP_BODY_NAME "koff_loop_body"
/* .BTF.ext: header (magic, version, flags, hdr_len, func_info_off/len,
 * line_info_off/len), then per section {name, count, records}. */
#define BTF_EXT_MAGIC 0xeB9F
#define BTF_EXT_HDR_LEN 24u
#define FUNC_INFO_REC 8u
#define LINE_INFO_REC 16u

/* Offsets of the map definitions inside .maps: koff_trace only in --record-path
 * builds (a program that refers to it). */
#define SCRATCH_DEF_OFF 0u
#define STATS_DEF_OFF MAP_DEF_SIZE
#define TRACE_DEF_OFF (2 * MAP_DEF_SIZE)
/* koff_shared (shared state only) has a fifth field, map_flags (BPF_F_MMAPABLE). */
#define SHARED_DEF_SIZE (MAP_DEF_SIZE + 8u)

struct out_section {
	Elf_Scn *scn;
	Dwelf_Strent *name;
	bool present;
};

/* Everything one bpfobj_write call builds, released by writer_release. */
struct obj_writer {
	const char *path;
	const struct bpf_emit *e;
	const uint8_t *rodata;
	size_t rodata_size;
	const char *trace_table;	/* --record-path builds: text for KOFF_TRACE_SECTION */
	size_t trace_table_size;
	const char *identity;		/* KOFF_IDENTITY_SECTION's text, or NULL */
	uint64_t shared_value_size;	/* koff_shared's value; 0 = no such map */
	const char *shared_text;	/* KOFF_SHARED_SECTION's text */
	struct koff_error *err;

	struct btf *btf;
	const void *btf_raw;
	uint32_t btf_raw_size;

	char *tmp_path;
	int fd;
	Elf *elf;
	Dwelf_Strtab *strtab;
	void *strtab_buf;		/* malloc'd by dwelf_strtab_finalize */
	struct out_section secs[OUT__COUNT];

	int sym_index[SYM__COUNT];	/* symtab index, 0 when absent */
	Dwelf_Strent *sym_name[SYM__COUNT];
	Elf64_Sym syms[SYM__COUNT];
	int nsyms;
	Elf64_Rel *rels;		/* xdp's, then .text's */
	int nrels_main, nrels_text;
	uint8_t maps_image[3 * MAP_DEF_SIZE + SHARED_DEF_SIZE];	/* zeroes, like clang */
	bool traced;			/* the program records its path in koff_trace */

	/* Programs with a subprogram (e->subprog_start >= 0). */
	int split;			/* first .text instruction; e->n when there is none */
	struct bpf_insn *main_insns;	/* xdp's instructions, the func ref's imm for libbpf */
	int prog_func_id, body_func_id;	/* BTF FUNCs */
	uint32_t str_xdp, str_text, str_file; /* BTF string offsets for .BTF.ext */
	uint8_t *btf_ext;
	uint32_t btf_ext_size;
};

static bool has_subprog(const struct obj_writer *w)
{
	return w->split < w->e->n;
}

/* koff_shared's definition follows the others. */
static size_t shared_def_off(const struct obj_writer *w)
{
	return (w->traced ? 3 : 2) * MAP_DEF_SIZE;
}

static size_t maps_size(const struct obj_writer *w)
{
	return shared_def_off(w) + (w->shared_value_size ? SHARED_DEF_SIZE : 0);
}

/* ---- Input checks --------------------------------------------------------- */

static bool is_ld_imm64(const struct bpf_insn *insn)
{
	return insn->code == (BPF_LD | BPF_DW | BPF_IMM);
}

static int check_input(struct obj_writer *w)
{
	const struct bpf_emit *e = w->e;

	w->split = e->subprog_start >= 0 && e->subprog_start < e->n ? e->subprog_start : e->n;
	if (e->err)
		return koff_fail(w->err, e->err, "%s: the emitted program is incomplete: %s",
				 w->path, strerror(-e->err));
	if (e->n <= 0)
		return koff_fail(w->err, -EINVAL, "%s: the emitted program is empty", w->path);
	for (int i = 0; i < e->nmaprefs; i++) {
		const struct emit_mapref *ref = &e->maprefs[i];

		if (ref->map == KOFF_MAPID_RODATA && !w->rodata_size)
			return koff_fail(w->err, -EINVAL, "%s: insn %d reads .rodata, but there is none",
					 w->path, ref->insn);

		if (ref->insn < 0 || ref->insn + 1 >= e->n || !is_ld_imm64(&e->insns[ref->insn]))
			return koff_fail(w->err, -EINVAL, "%s: map reference %d is not at a ld_imm64 (insn %d)",
					 w->path, i, ref->insn);
		if (ref->map == KOFF_MAPID_RODATA && ref->off > w->rodata_size)
			return koff_fail(w->err, -EINVAL, "%s: insn %d reads .rodata+%u, past its %zu bytes",
					 w->path, ref->insn, ref->off, w->rodata_size);
		if ((unsigned)ref->map >= KOFF_MAPID__COUNT)
			return koff_fail(w->err, -EINVAL, "%s: insn %d refers to unknown map %d",
					 w->path, ref->insn, ref->map);
		if (ref->map == KOFF_MAPID_TRACE)
			w->traced = true;
		if (ref->map == KOFF_MAPID_SHARED && !w->shared_value_size)
			return koff_fail(w->err, -EINVAL, "%s: insn %d uses %s, but there is none",
					 w->path, ref->insn, KOFF_MAP_SHARED);
		if (ref->insn < w->split)
			w->nrels_main++;
		else
			w->nrels_text++;
	}
	if (has_subprog(w) && (e->func_ref < 0 || e->func_ref + 1 >= w->split ||
			       !is_ld_imm64(&e->insns[e->func_ref])))
		return koff_fail(w->err, -EINVAL, "%s: the subprogram at insn %d has no reference",
				 w->path, w->split);
	return 0;
}

/* ---- BTF ------------------------------------------------------------------ */

struct btf_base_types {
	int int_id, uint_id, u8_id, u64_id, char_id, array_index_id;
};

static int add_base_types(struct btf *btf, struct btf_base_types *t)
{
	if ((t->int_id = btf__add_int(btf, "int", 4, BTF_INT_SIGNED)) < 0 ||
	    (t->uint_id = btf__add_int(btf, "unsigned int", 4, 0)) < 0 ||
	    (t->u8_id = btf__add_int(btf, "unsigned char", 1, 0)) < 0 ||
	    (t->u64_id = btf__add_int(btf, "unsigned long long", 8, 0)) < 0 ||
	    (t->char_id = btf__add_int(btf, "char", 1, BTF_INT_SIGNED)) < 0 ||
	    (t->array_index_id = btf__add_int(btf, "__ARRAY_SIZE_TYPE__", 4, 0)) < 0)
		return -ENOMEM;
	return 0;
}

/* __uint(name, n) is `int (*name)[n]`: the value lives in the array size. */
static int add_uint_encoding(struct btf *btf, const struct btf_base_types *t, uint32_t n)
{
	int arr = btf__add_array(btf, t->array_index_id, t->int_id, n);

	return arr < 0 ? arr : btf__add_ptr(btf, arr);
}

static int add_byte_array(struct btf *btf, const struct btf_base_types *t, int elem, uint32_t n)
{
	return btf__add_array(btf, t->array_index_id, elem, n);
}

/* struct koff_scratch_area { u8 req[]; u8 resp[]; u8 stack[]; u8 koff_private[]; }: the
 * regions of include/ir.h, so that a map dump shows them by name. */
static int add_scratch_value_type(struct btf *btf, const struct btf_base_types *t)
{
	int req = add_byte_array(btf, t, t->u8_id, IR_REQ_MAX);
	int resp = add_byte_array(btf, t, t->u8_id, IR_RESP_MAX);
	int stack = add_byte_array(btf, t, t->u8_id, IR_STACK_SIZE);
	int priv = add_byte_array(btf, t, t->u8_id, IR_PRIV_SIZE);
	int s;

	if (req < 0 || resp < 0 || stack < 0 || priv < 0)
		return -ENOMEM;
	s = btf__add_struct(btf, "koff_scratch_area", IR_SCRATCH_SIZE);
	if (s < 0 ||
	    btf__add_field(btf, "req", req, IR_REQ_OFF * 8, 0) ||
	    btf__add_field(btf, "resp", resp, IR_RESP_OFF * 8, 0) ||
	    btf__add_field(btf, "stack", stack, IR_STACK_OFF * 8, 0) ||
	    btf__add_field(btf, "koff_private", priv, IR_PRIV_OFF * 8, 0))
		return -ENOMEM;
	return s;
}

/* The anonymous map-definition struct and the global VAR naming it. */
static int add_map_var(struct btf *btf, const struct btf_base_types *t, const char *name,
		       uint32_t map_type, int key_type, int value_type, uint32_t max_entries)
{
	int type = add_uint_encoding(btf, t, map_type);
	int key = btf__add_ptr(btf, key_type);
	int value = btf__add_ptr(btf, value_type);
	int max = add_uint_encoding(btf, t, max_entries);
	int def;

	if (type < 0 || key < 0 || value < 0 || max < 0)
		return -ENOMEM;
	def = btf__add_struct(btf, NULL, MAP_DEF_SIZE);
	if (def < 0 ||
	    btf__add_field(btf, "type", type, 0, 0) ||
	    btf__add_field(btf, "key", key, 64, 0) ||
	    btf__add_field(btf, "value", value, 128, 0) ||
	    btf__add_field(btf, "max_entries", max, 192, 0))
		return -ENOMEM;
	return btf__add_var(btf, name, BTF_VAR_GLOBAL_ALLOCATED, def);
}

/* koff_shared: an mmapable one-entry array whose value is struct
 * koff_shared_region { u8 globals[value - 64]; struct koff_shared_ctl ctl; },
 * so that a map dump shows the control block by name. */
static int add_shared_map_var(struct btf *btf, const struct btf_base_types *t, uint64_t value_size)
{
	static const char *const ctl_fields[] = { "magic", "seq", "writers", "lock" };
	int globals = add_byte_array(btf, t, t->u8_id, (uint32_t)(value_size - KOFF_SHARED_CTL_SIZE));
	int reserved = btf__add_array(btf, t->array_index_id, t->u64_id, 4);
	int ctl, region, type, key, value, max, flags, def;

	if (globals < 0 || reserved < 0)
		return -ENOMEM;
	ctl = btf__add_struct(btf, "koff_shared_ctl", KOFF_SHARED_CTL_SIZE);
	if (ctl < 0)
		return -ENOMEM;
	for (unsigned i = 0; i < KOFF_ARRAY_SIZE(ctl_fields); i++)
		if (btf__add_field(btf, ctl_fields[i], t->u64_id, i * 64, 0))
			return -ENOMEM;
	if (btf__add_field(btf, "reserved", reserved, 4 * 64, 0))
		return -ENOMEM;
	region = btf__add_struct(btf, "koff_shared_region", (uint32_t)value_size);
	if (region < 0 || btf__add_field(btf, "globals", globals, 0, 0) ||
	    btf__add_field(btf, "ctl", ctl, (uint32_t)(value_size - KOFF_SHARED_CTL_SIZE) * 8, 0))
		return -ENOMEM;
	type = add_uint_encoding(btf, t, BPF_MAP_TYPE_ARRAY);
	key = btf__add_ptr(btf, t->uint_id);
	value = btf__add_ptr(btf, region);
	max = add_uint_encoding(btf, t, 1);
	flags = add_uint_encoding(btf, t, BPF_F_MMAPABLE);
	if (type < 0 || key < 0 || value < 0 || max < 0 || flags < 0)
		return -ENOMEM;
	def = btf__add_struct(btf, NULL, SHARED_DEF_SIZE);
	if (def < 0 ||
	    btf__add_field(btf, "type", type, 0, 0) ||
	    btf__add_field(btf, "key", key, 64, 0) ||
	    btf__add_field(btf, "value", value, 128, 0) ||
	    btf__add_field(btf, "max_entries", max, 192, 0) ||
	    btf__add_field(btf, "map_flags", flags, 256, 0))
		return -ENOMEM;
	return btf__add_var(btf, KOFF_MAP_SHARED, BTF_VAR_GLOBAL_ALLOCATED, def);
}

/* struct xdp_md as in linux/bpf.h, for the program's prototype. */
static int add_xdp_md(struct btf *btf, const struct btf_base_types *t)
{
	static const char *const fields[] = {
		"data", "data_end", "data_meta", "ingress_ifindex", "rx_queue_index", "egress_ifindex",
	};
	int s = btf__add_struct(btf, "xdp_md", sizeof(struct xdp_md));

	if (s < 0)
		return s;
	for (unsigned i = 0; i < KOFF_ARRAY_SIZE(fields); i++)
		if (btf__add_field(btf, fields[i], t->uint_id, i * 32, 0))
			return -ENOMEM;
	return s;
}

/* FUNC koff_xdp of type `int (struct xdp_md *ctx)`. */
static int add_prog_func(struct btf *btf, const struct btf_base_types *t)
{
	int md = add_xdp_md(btf, t);
	int md_ptr = md < 0 ? md : btf__add_ptr(btf, md);
	int proto = md_ptr < 0 ? md_ptr : btf__add_func_proto(btf, t->int_id);

	if (proto < 0 || btf__add_func_param(btf, "ctx", md_ptr))
		return -ENOMEM;
	return btf__add_func(btf, KOFF_PROG_NAME, BTF_FUNC_GLOBAL, proto);
}

/* FUNC koff_loop_body, static, of type `int (unsigned int index, void *ctx)`:
 * the bpf_loop callback (a callback must be static). */
static int add_loop_body_func(struct btf *btf, const struct btf_base_types *t)
{
	int void_ptr = btf__add_ptr(btf, 0);
	int proto = void_ptr < 0 ? void_ptr : btf__add_func_proto(btf, t->int_id);

	if (proto < 0 || btf__add_func_param(btf, "index", t->uint_id) ||
	    btf__add_func_param(btf, "ctx", void_ptr))
		return -ENOMEM;
	return btf__add_func(btf, LOOP_BODY_NAME, BTF_FUNC_STATIC, proto);
}

/* Names .BTF.ext refers to, in the BTF string table. */
static int add_ext_strings(struct obj_writer *w, struct btf *btf)
{
	int xdp = btf__add_str(btf, out_sec_names[OUT_XDP]);
	int text = btf__add_str(btf, out_sec_names[OUT_TEXT]);
	int file = btf__add_str(btf, "koff-generated");

	if (xdp < 0 || text < 0 || file < 0)
		return -ENOMEM;
	w->str_xdp = (uint32_t)xdp;
	w->str_text = (uint32_t)text;
	w->str_file = (uint32_t)file;
	return 0;
}

static int add_datasec_one(struct btf *btf, const char *name, int var, uint32_t size)
{
	if (btf__add_datasec(btf, name, size) < 0 ||
	    btf__add_datasec_var_info(btf, var, 0, size))
		return -ENOMEM;
	return 0;
}

static int add_all_btf(struct obj_writer *w, struct btf *btf)
{
	struct btf_base_types t;
	int scratch_value, scratch_var, stats_var, license_var, rodata_var = -1, trace_var = -1;
	int shared_var = -1;

	if (add_base_types(btf, &t) || (scratch_value = add_scratch_value_type(btf, &t)) < 0)
		return -ENOMEM;
	scratch_var = add_map_var(btf, &t, KOFF_MAP_SCRATCH, BPF_MAP_TYPE_PERCPU_ARRAY,
				  t.uint_id, scratch_value, 1);
	stats_var = add_map_var(btf, &t, KOFF_MAP_STATS, BPF_MAP_TYPE_PERCPU_ARRAY,
				t.uint_id, t.u64_id, KOFF_STAT__COUNT);
	if (scratch_var < 0 || stats_var < 0 || (w->prog_func_id = add_prog_func(btf, &t)) < 0)
		return -ENOMEM;
	if (has_subprog(w) &&
	    ((w->body_func_id = add_loop_body_func(btf, &t)) < 0 || add_ext_strings(w, btf)))
		return -ENOMEM;
	if (w->traced) {
		int slots = btf__add_array(btf, t.array_index_id, t.u64_id, KOFF_TRACE_SLOTS + 1);

		trace_var = slots < 0 ? slots : add_map_var(btf, &t, KOFF_MAP_TRACE, BPF_MAP_TYPE_ARRAY,
							    t.uint_id, slots, 1);
		if (trace_var < 0)
			return -ENOMEM;
	}
	if (w->shared_value_size && (shared_var = add_shared_map_var(btf, &t, w->shared_value_size)) < 0)
		return -ENOMEM;
	if (w->rodata_size) {
		int cu8 = btf__add_const(btf, t.u8_id);
		int arr = cu8 < 0 ? cu8 : add_byte_array(btf, &t, cu8, w->rodata_size);

		rodata_var = arr < 0 ? arr : btf__add_var(btf, BPFOBJ_RODATA_SYM, BTF_VAR_GLOBAL_ALLOCATED, arr);
		if (rodata_var < 0)
			return -ENOMEM;
	}
	license_var = btf__add_var(btf, "_license", BTF_VAR_GLOBAL_ALLOCATED,
				   add_byte_array(btf, &t, t.char_id, sizeof(LICENSE)));
	if (license_var < 0)
		return -ENOMEM;

	/* DATASECs last: each one's var infos must follow it directly. */
	if (btf__add_datasec(btf, ".maps", (uint32_t)maps_size(w)) < 0 ||
	    btf__add_datasec_var_info(btf, scratch_var, SCRATCH_DEF_OFF, MAP_DEF_SIZE) ||
	    btf__add_datasec_var_info(btf, stats_var, STATS_DEF_OFF, MAP_DEF_SIZE) ||
	    (w->traced && btf__add_datasec_var_info(btf, trace_var, TRACE_DEF_OFF, MAP_DEF_SIZE)) ||
	    (w->shared_value_size &&
	     btf__add_datasec_var_info(btf, shared_var, (uint32_t)shared_def_off(w), SHARED_DEF_SIZE)))
		return -ENOMEM;
	if (w->rodata_size && add_datasec_one(btf, ".rodata", rodata_var, w->rodata_size))
		return -ENOMEM;
	return add_datasec_one(btf, "license", license_var, sizeof(LICENSE));
}

static int build_btf(struct obj_writer *w)
{
	w->btf = btf__new_empty();
	if (!w->btf)
		return koff_fail(w->err, -ENOMEM, "%s: cannot create BTF: out of memory", w->path);
	if (add_all_btf(w, w->btf))
		return koff_fail(w->err, -ENOMEM, "%s: cannot build BTF: out of memory", w->path);
	w->btf_raw = btf__raw_data(w->btf, &w->btf_raw_size);
	if (!w->btf_raw)
		return koff_fail(w->err, -ENOMEM, "%s: cannot encode BTF: out of memory", w->path);
	return 0;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
	return p + sizeof(v);
}

/* One info block of .BTF.ext: rec_size, then for xdp and .text the section
 * name, one record, and the record: insn_off 0 and the function's BTF id
 * (func_info) or an empty source line (line_info). */
static uint8_t *put_ext_info(struct obj_writer *w, uint8_t *p, uint32_t rec_size, bool line)
{
	const uint32_t secs[2] = { w->str_xdp, w->str_text };
	const int funcs[2] = { w->prog_func_id, w->body_func_id };

	p = put_u32(p, rec_size);
	for (int i = 0; i < 2; i++) {
		p = put_u32(p, secs[i]);
		p = put_u32(p, 1);
		p = put_u32(p, 0);	/* insn_off (bytes): the function's first insn */
		if (line) {
			p = put_u32(p, w->str_file);
			p = put_u32(p, 0);	/* the line's text: "" */
			p = put_u32(p, 0);	/* line 0, column 0 */
		} else {
			p = put_u32(p, (uint32_t)funcs[i]);
		}
	}
	return p;
}

/* .BTF.ext of a program with a subprogram: func_info (the kernel wants it
 * for a callback) and line_info (libbpf warns without it). */
static int build_btf_ext(struct obj_writer *w)
{
	uint32_t func_len = 4 + 2 * (8 + FUNC_INFO_REC), line_len = 4 + 2 * (8 + LINE_INFO_REC);
	uint8_t *p;

	if (!has_subprog(w))
		return 0;
	w->btf_ext_size = BTF_EXT_HDR_LEN + func_len + line_len;
	w->btf_ext = calloc(1, w->btf_ext_size);
	if (!w->btf_ext)
		return koff_fail(w->err, -ENOMEM, "%s: out of memory", w->path);
	p = w->btf_ext;
	*(uint16_t *)p = BTF_EXT_MAGIC;
	p[2] = 1;	/* version */
	p[3] = 0;	/* flags */
	p = put_u32(p + 4, BTF_EXT_HDR_LEN);
	p = put_u32(p, 0);		/* func_info_off, from the end of the header */
	p = put_u32(p, func_len);
	p = put_u32(p, func_len);	/* line_info_off */
	p = put_u32(p, line_len);
	p = put_ext_info(w, p, FUNC_INFO_REC, false);
	put_ext_info(w, p, LINE_INFO_REC, true);
	return 0;
}

/* xdp's instructions as libbpf wants them: the callback's ld_imm64 holds
 * the callback's byte offset in .text (0), the relocation names .text. */
static int copy_main_insns(struct obj_writer *w)
{
	size_t bytes = (size_t)w->split * sizeof(struct bpf_insn);

	w->main_insns = malloc(bytes ? bytes : 1);
	if (!w->main_insns)
		return koff_fail(w->err, -ENOMEM, "%s: out of memory", w->path);
	memcpy(w->main_insns, w->e->insns, bytes);
	if (has_subprog(w))
		w->main_insns[w->e->func_ref].imm = 0;
	return 0;
}

/* ---- ELF sections ----------------------------------------------------------- */

static int elf_failure(struct obj_writer *w, const char *what)
{
	return koff_fail(w->err, -EIO, "%s: %s: %s", w->path, what, elf_errmsg(-1));
}

static int new_section(struct obj_writer *w, enum out_sec id, uint32_t type, uint64_t flags,
		       const void *buf, size_t size, Elf_Type dtype, size_t align)
{
	struct out_section *s = &w->secs[id];
	GElf_Shdr shdr;
	Elf_Data *data;

	s->scn = elf_newscn(w->elf);
	if (!s->scn || !(data = elf_newdata(s->scn)) || !gelf_getshdr(s->scn, &shdr))
		return elf_failure(w, "cannot add a section");
	s->present = true;
	s->name = dwelf_strtab_add(w->strtab, out_sec_names[id]);
	data->d_buf = (void *)buf;
	data->d_size = size;
	data->d_type = dtype;
	data->d_align = align;
	data->d_version = EV_CURRENT;
	shdr.sh_type = type;
	shdr.sh_flags = flags;
	shdr.sh_addralign = align;
	if (!gelf_update_shdr(s->scn, &shdr))
		return elf_failure(w, "cannot set up a section");
	return s->name ? 0 : koff_fail(w->err, -ENOMEM, "%s: out of memory", w->path);
}

static size_t sec_index(const struct obj_writer *w, enum out_sec id)
{
	return elf_ndxscn(w->secs[id].scn);
}

/* Set the header fields known only once every section exists. */
static int link_section(struct obj_writer *w, enum out_sec id, enum out_sec link,
			uint32_t info, size_t entsize)
{
	GElf_Shdr shdr;

	if (!gelf_getshdr(w->secs[id].scn, &shdr))
		return elf_failure(w, "cannot read a section header");
	shdr.sh_name = dwelf_strent_off(w->secs[id].name);
	if (link != OUT__COUNT)
		shdr.sh_link = sec_index(w, link);
	shdr.sh_info = info;
	shdr.sh_entsize = entsize;
	if (!gelf_update_shdr(w->secs[id].scn, &shdr))
		return elf_failure(w, "cannot update a section header");
	return 0;
}

static int add_content_sections(struct obj_writer *w)
{
	const struct bpf_emit *e = w->e;
	size_t nmain = (size_t)w->nrels_main + (has_subprog(w) ? 1 : 0);
	size_t nrels = nmain + (size_t)w->nrels_text;
	int ret;

	/* The relocation data is filled later; its size is known now. */
	w->rels = calloc(nrels ? nrels : 1, sizeof(*w->rels));
	if (!w->rels)
		return koff_fail(w->err, -ENOMEM, "%s: out of memory", w->path);
	if ((ret = new_section(w, OUT_XDP, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, w->main_insns,
			       (size_t)w->split * sizeof(*e->insns), ELF_T_BYTE, 8)) ||
	    (ret = new_section(w, OUT_RELXDP, SHT_REL, SHF_INFO_LINK, w->rels,
			       nmain * sizeof(*w->rels), ELF_T_REL, 8)))
		return ret;
	if (has_subprog(w) &&
	    ((ret = new_section(w, OUT_TEXT, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, e->insns + w->split,
				(size_t)(e->n - w->split) * sizeof(*e->insns), ELF_T_BYTE, 8)) ||
	     (ret = new_section(w, OUT_RELTEXT, SHT_REL, SHF_INFO_LINK, w->rels + nmain,
				(size_t)w->nrels_text * sizeof(*w->rels), ELF_T_REL, 8))))
		return ret;
	if ((ret = new_section(w, OUT_MAPS, SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, w->maps_image,
			       maps_size(w), ELF_T_BYTE, 8)))
		return ret;
	/* An empty .rodata would give libbpf a zero-sized map it refuses. */
	if (w->rodata_size &&
	    (ret = new_section(w, OUT_RODATA, SHT_PROGBITS, SHF_ALLOC, w->rodata, w->rodata_size,
			       ELF_T_BYTE, 8)))
		return ret;
	if ((ret = new_section(w, OUT_LICENSE, SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, LICENSE,
			       sizeof(LICENSE), ELF_T_BYTE, 1)))
		return ret;
	if (w->trace_table_size &&
	    (ret = new_section(w, OUT_TRACE_TABLE, SHT_PROGBITS, 0, w->trace_table, w->trace_table_size,
			       ELF_T_BYTE, 1)))
		return ret;
	if (w->identity &&
	    (ret = new_section(w, OUT_IDENTITY, SHT_PROGBITS, 0, w->identity, strlen(w->identity),
			       ELF_T_BYTE, 1)))
		return ret;
	if (w->shared_value_size &&
	    (ret = new_section(w, OUT_SHARED_TEXT, SHT_PROGBITS, 0, w->shared_text, strlen(w->shared_text),
			       ELF_T_BYTE, 1)))
		return ret;
	if ((ret = new_section(w, OUT_BTF, SHT_PROGBITS, 0, w->btf_raw, w->btf_raw_size, ELF_T_BYTE, 4)))
		return ret;
	if (has_subprog(w))
		return new_section(w, OUT_BTF_EXT, SHT_PROGBITS, 0, w->btf_ext, w->btf_ext_size,
				   ELF_T_BYTE, 4);
	return 0;
}

/* ---- Symbols and relocations ---------------------------------------------- */

static void define_symbol(struct obj_writer *w, enum out_sym id, const char *name, int bind,
			  int type, enum out_sec sec, uint64_t value, uint64_t size)
{
	Elf64_Sym *s = &w->syms[w->nsyms];

	w->sym_index[id] = w->nsyms++;
	w->sym_name[id] = name ? dwelf_strtab_add(w->strtab, name) : NULL;
	s->st_info = ELF64_ST_INFO(bind, type);
	s->st_other = STV_DEFAULT;
	s->st_shndx = sec_index(w, sec);
	s->st_value = value;
	s->st_size = size;
}

static void define_symbols(struct obj_writer *w)
{
	w->nsyms = 1;	/* index 0: the null symbol, already zero */
	define_symbol(w, SYM_XDP_SECTION, NULL, STB_LOCAL, STT_SECTION, OUT_XDP, 0, 0);
	if (has_subprog(w)) {
		define_symbol(w, SYM_TEXT_SECTION, NULL, STB_LOCAL, STT_SECTION, OUT_TEXT, 0, 0);
		define_symbol(w, SYM_LOOP_BODY, LOOP_BODY_NAME, STB_LOCAL, STT_FUNC, OUT_TEXT, 0,
			      (uint64_t)(w->e->n - w->split) * sizeof(struct bpf_insn));
	}
	define_symbol(w, SYM_PROG, KOFF_PROG_NAME, STB_GLOBAL, STT_FUNC, OUT_XDP, 0,
		      (uint64_t)w->split * sizeof(struct bpf_insn));
	define_symbol(w, SYM_SCRATCH, KOFF_MAP_SCRATCH, STB_GLOBAL, STT_OBJECT, OUT_MAPS,
		      SCRATCH_DEF_OFF, MAP_DEF_SIZE);
	define_symbol(w, SYM_STATS, KOFF_MAP_STATS, STB_GLOBAL, STT_OBJECT, OUT_MAPS,
		      STATS_DEF_OFF, MAP_DEF_SIZE);
	if (w->traced)
		define_symbol(w, SYM_TRACE, KOFF_MAP_TRACE, STB_GLOBAL, STT_OBJECT, OUT_MAPS,
			      TRACE_DEF_OFF, MAP_DEF_SIZE);
	if (w->shared_value_size)
		define_symbol(w, SYM_SHARED, KOFF_MAP_SHARED, STB_GLOBAL, STT_OBJECT, OUT_MAPS,
			      shared_def_off(w), SHARED_DEF_SIZE);
	if (w->rodata_size)
		define_symbol(w, SYM_RODATA, BPFOBJ_RODATA_SYM, STB_GLOBAL, STT_OBJECT, OUT_RODATA,
			      0, w->rodata_size);
	define_symbol(w, SYM_LICENSE, "_license", STB_GLOBAL, STT_OBJECT, OUT_LICENSE, 0,
		      sizeof(LICENSE));
}

static int add_symtab_sections(struct obj_writer *w)
{
	int ret;

	define_symbols(w);
	ret = new_section(w, OUT_SYMTAB, SHT_SYMTAB, 0, w->syms, (size_t)w->nsyms * sizeof(Elf64_Sym),
			  ELF_T_SYM, 8);
	return ret ? ret : new_section(w, OUT_STRTAB, SHT_STRTAB, 0, NULL, 0, ELF_T_BYTE, 1);
}

/* Names are only known after the string table is laid out. */
static int finalize_names(struct obj_writer *w)
{
	Elf_Data *data = elf_getdata(w->secs[OUT_STRTAB].scn, NULL);

	if (!data || !dwelf_strtab_finalize(w->strtab, data))
		return koff_fail(w->err, -ENOMEM, "%s: cannot lay out the string table", w->path);
	w->strtab_buf = data->d_buf;
	for (int i = 0; i < SYM__COUNT; i++)
		if (w->sym_name[i])
			w->syms[w->sym_index[i]].st_name = dwelf_strent_off(w->sym_name[i]);
	return 0;
}

/* libbpf resolves a map reference by the symbol's section and value, and
 * for .rodata adds the symbol value to the ld_imm64's imm (emit_ld_map put
 * the byte offset there): symbol koff_rodata at 0 keeps imm as the offset. */
static void fill_relocations(struct obj_writer *w)
{
	static const enum out_sym map_symbol[KOFF_MAPID__COUNT] = {
		[KOFF_MAPID_SCRATCH] = SYM_SCRATCH,
		[KOFF_MAPID_STATS] = SYM_STATS,
		[KOFF_MAPID_RODATA] = SYM_RODATA,
		[KOFF_MAPID_TRACE] = SYM_TRACE,
		[KOFF_MAPID_SHARED] = SYM_SHARED,
	};

	Elf64_Rel *main_rel = w->rels;
	Elf64_Rel *text_rel = w->rels + w->nrels_main + (has_subprog(w) ? 1 : 0);

	for (int i = 0; i < w->e->nmaprefs; i++) {
		const struct emit_mapref *ref = &w->e->maprefs[i];
		bool in_text = ref->insn >= w->split;
		Elf64_Rel *r = in_text ? text_rel++ : main_rel++;

		r->r_offset = (uint64_t)(ref->insn - (in_text ? w->split : 0)) * sizeof(struct bpf_insn);
		r->r_info = ELF64_R_INFO(w->sym_index[map_symbol[ref->map]], R_BPF_64_64);
	}
	if (has_subprog(w)) {
		main_rel->r_offset = (uint64_t)w->e->func_ref * sizeof(struct bpf_insn);
		main_rel->r_info = ELF64_R_INFO(w->sym_index[SYM_TEXT_SECTION], R_BPF_64_64);
	}
}

static int link_sections(struct obj_writer *w)
{
	for (int id = 0; id < OUT__COUNT; id++) {
		uint32_t info = 0;
		enum out_sec link = OUT__COUNT;
		size_t entsize = 0;

		if (!w->secs[id].present)
			continue;
		if (id == OUT_RELXDP || id == OUT_RELTEXT) {
			link = OUT_SYMTAB;
			info = sec_index(w, id == OUT_RELXDP ? OUT_XDP : OUT_TEXT);
			entsize = sizeof(Elf64_Rel);
		} else if (id == OUT_SYMTAB) {
			link = OUT_STRTAB;
			info = w->sym_index[SYM_PROG];	/* the first global */
			entsize = sizeof(Elf64_Sym);
		}
		int ret = link_section(w, id, link, info, entsize);

		if (ret)
			return ret;
	}
	return 0;
}

/* ---- The file ------------------------------------------------------------- */

static int open_temp_file(struct obj_writer *w)
{
	if (asprintf(&w->tmp_path, "%s.tmp.XXXXXX", w->path) < 0) {
		w->tmp_path = NULL;
		return koff_fail(w->err, -ENOMEM, "%s: out of memory", w->path);
	}
	w->fd = mkstemp(w->tmp_path);
	if (w->fd < 0) {
		int code = -errno;

		free(w->tmp_path);
		w->tmp_path = NULL;
		return koff_fail(w->err, code, "%s: cannot write: %s", w->path, strerror(-code));
	}
	/* mkstemp makes 0600; an object file is as readable as any build output. */
	fchmod(w->fd, 0644);
	return 0;
}

static int start_elf(struct obj_writer *w)
{
	Elf64_Ehdr *ehdr;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return elf_failure(w, "libelf is unusable");
	w->elf = elf_begin(w->fd, ELF_C_WRITE, NULL);
	if (!w->elf || !(ehdr = elf64_newehdr(w->elf)))
		return elf_failure(w, "cannot start an ELF file");
	ehdr->e_ident[EI_DATA] = ELFDATA2LSB;
	ehdr->e_ident[EI_OSABI] = ELFOSABI_NONE;
	ehdr->e_type = ET_REL;
	ehdr->e_machine = EM_BPF;
	ehdr->e_version = EV_CURRENT;
	w->strtab = dwelf_strtab_init(true);
	if (!w->strtab)
		return koff_fail(w->err, -ENOMEM, "%s: out of memory", w->path);
	return 0;
}

static int set_shstrndx(struct obj_writer *w)
{
	Elf64_Ehdr *ehdr = elf64_getehdr(w->elf);

	if (!ehdr)
		return elf_failure(w, "cannot read the ELF header");
	ehdr->e_shstrndx = sec_index(w, OUT_STRTAB);
	return 0;
}

static int write_elf(struct obj_writer *w)
{
	if (elf_update(w->elf, ELF_C_WRITE) < 0)
		return elf_failure(w, "cannot write the ELF file");
	if (fsync(w->fd) < 0)
		return koff_fail(w->err, -errno, "%s: cannot write: %s", w->path, strerror(errno));
	return 0;
}

/* Make the finished temporary file the real one, durably. */
static int commit_file(struct obj_writer *w)
{
	char *slash;
	int dirfd;

	elf_end(w->elf);
	w->elf = NULL;
	if (close(w->fd) < 0) {
		w->fd = -1;
		return koff_fail(w->err, -errno, "%s: cannot write: %s", w->path, strerror(errno));
	}
	w->fd = -1;
	if (rename(w->tmp_path, w->path) < 0)
		return koff_fail(w->err, -errno, "%s: cannot write: %s", w->path, strerror(errno));
	free(w->tmp_path);
	w->tmp_path = NULL;
	/* fsync the directory so the rename itself survives a crash. */
	slash = strrchr(w->path, '/');
	if (slash) {
		char *dir = strndup(w->path, (size_t)(slash - w->path) + 1);

		dirfd = dir ? open(dir, O_RDONLY | O_DIRECTORY) : -1;
		free(dir);
	} else {
		dirfd = open(".", O_RDONLY | O_DIRECTORY);
	}
	if (dirfd >= 0) {
		fsync(dirfd);
		close(dirfd);
	}
	return 0;
}

static void writer_release(struct obj_writer *w)
{
	if (w->elf)
		elf_end(w->elf);
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_path) {
		unlink(w->tmp_path);
		free(w->tmp_path);
	}
	if (w->strtab)
		dwelf_strtab_free(w->strtab);
	free(w->strtab_buf);
	free(w->rels);
	free(w->main_insns);
	free(w->btf_ext);
	btf__free(w->btf);
}

static int build_and_write(struct obj_writer *w)
{
	int ret;

	if ((ret = check_input(w)) || (ret = build_btf(w)) || (ret = build_btf_ext(w)) ||
	    (ret = copy_main_insns(w)) || (ret = open_temp_file(w)) ||
	    (ret = start_elf(w)) || (ret = add_content_sections(w)) ||
	    (ret = add_symtab_sections(w)) || (ret = finalize_names(w)))
		return ret;
	fill_relocations(w);
	if ((ret = link_sections(w)) || (ret = set_shstrndx(w)) || (ret = write_elf(w)))
		return ret;
	return commit_file(w);
}

int bpfobj_write(const char *path, const struct bpf_emit *e,
		 const uint8_t *rodata, size_t rodata_size, struct koff_error *err)
{
	return bpfobj_write_traced(path, e, rodata, rodata_size, NULL, 0, err);
}

int bpfobj_write_traced(const char *path, const struct bpf_emit *e, const uint8_t *rodata,
			size_t rodata_size, const char *trace_table, size_t trace_table_size,
			struct koff_error *err)
{
	return bpfobj_write_identified(path, e, rodata, rodata_size, trace_table, trace_table_size,
				       NULL, err);
}

int bpfobj_write_identified(const char *path, const struct bpf_emit *e, const uint8_t *rodata,
			    size_t rodata_size, const char *trace_table, size_t trace_table_size,
			    const char *identity, struct koff_error *err)
{
	struct bpfobj_extras x = { .trace_table = trace_table, .trace_table_size = trace_table_size,
				   .identity = identity };

	return bpfobj_write_extras(path, e, rodata, rodata_size, &x, err);
}

int bpfobj_write_extras(const char *path, const struct bpf_emit *e, const uint8_t *rodata,
			size_t rodata_size, const struct bpfobj_extras *x, struct koff_error *err)
{
	struct obj_writer w = {
		.path = path, .e = e, .rodata = rodata, .rodata_size = rodata_size,
		.trace_table = x->trace_table, .trace_table_size = x->trace_table_size,
		.identity = x->identity, .shared_value_size = x->shared_text ? x->shared_value_size : 0,
		.shared_text = x->shared_text, .err = err, .fd = -1,
	};
	struct koff_error local = { 0 };
	int ret;

	if (!w.err)
		w.err = &local;
	ret = build_and_write(&w);
	writer_release(&w);
	return ret;
}
