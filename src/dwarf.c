/* dwarf.c - what koff-link asks of the object's DWARF: which functions fit
 * an offload role (by their declared C signature) and which source line an
 * instruction came from.
 *
 * All addresses here are libdwfl's: it lays the sections of the ET_REL
 * object out one after the other and relocates the DWARF to match, so a
 * (section, offset) pair becomes section address + offset. */
#include <gelf.h>
#include <elfutils/libdwfl.h>
#include <dwarf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elfobj.h"

#define HANDLER_SIGNATURE "long (const unsigned char *, unsigned long, unsigned char *, unsigned long)"
#define PARSER_SIGNATURE "int (const char *, size_t, ...)"
/* Enough for every role; a longer parameter list is counted, not kept. */
#define SIG_MAX_PARAMS 8
/* Type chains deeper than this are cyclic or absurd: rendering stops. */
#define TYPE_MAX_DEPTH 16

/* ---- The libdwfl module and its addresses ------------------------------ */

static int take_first_module(Dwfl_Module *mod, void **userdata, const char *name,
			     Dwarf_Addr start, void *arg)
{
	(void)userdata, (void)name, (void)start;
	*(Dwfl_Module **)arg = mod;
	return DWARF_CB_ABORT;
}

/* obj_open reports exactly one module: the object itself. */
static Dwfl_Module *object_module(const struct obj_file *obj)
{
	Dwfl_Module *mod = NULL;

	if (obj->dwfl)
		dwfl_getmodules(obj->dwfl, take_first_module, &mod, 0);
	return mod;
}

/* The address libdwfl gave section `shndx`: it records its layout in the
 * section headers of its own (private) copy of the ELF file. */
static int section_address(Dwfl_Module *mod, int shndx, Dwarf_Addr *addr)
{
	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	Elf_Scn *scn = elf ? elf_getscn(elf, (size_t)shndx) : NULL;
	GElf_Shdr sh;

	if (!scn || !gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_ALLOC))
		return -ENOENT;
	*addr = sh.sh_addr + bias;
	return 0;
}

static int symbol_address(Dwfl_Module *mod, const struct obj_symbol *sym, Dwarf_Addr *addr)
{
	Dwarf_Addr base;

	if (section_address(mod, sym->shndx, &base))
		return -ENOENT;
	*addr = base + sym->value;
	return 0;
}

/* ---- Walking the defined functions ------------------------------------- */

static bool die_has_code(Dwarf_Die *die)
{
	return dwarf_hasattr(die, DW_AT_low_pc) || dwarf_hasattr(die, DW_AT_ranges);
}

static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;

	return dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
}

/* Where the function is entered: the start of its first address range
 * (gcc lists the hot part before a .cold part). */
static int die_entry_address(Dwarf_Die *die, Dwarf_Addr *entry)
{
	Dwarf_Addr base, start, end;

	if (dwarf_lowpc(die, entry) == 0)
		return 0;
	if (dwarf_ranges(die, 0, &base, &start, &end) > 0) {
		*entry = start;
		return 0;
	}
	return -ENOENT;
}

typedef int (*function_visitor)(Dwarf_Die *fn, Dwarf_Addr bias, void *arg);

/* Returned by the walks below when libdw could not parse the DWARF. */
#define DWARF_CORRUPT (-EBADMSG)

/* Call `visit` on every DW_TAG_subprogram with code, in every CU; a nonzero
 * return stops the walk and is returned.  DWARF_CORRUPT when a unit or a
 * DIE list could not be read (dwarf_errmsg(-1) says why). */
static int for_each_defined_function(Dwfl_Module *mod, function_visitor visit, void *arg)
{
	Dwarf_Die *cu = NULL;
	Dwarf_Addr bias;
	int more;

	dwfl_errno();	/* clear: an error left over would be taken for ours */
	while ((cu = dwfl_module_nextcu(mod, cu, &bias))) {
		Dwarf_Die child;

		more = dwarf_child(cu, &child);
		if (more < 0)
			return DWARF_CORRUPT;
		if (more > 0)
			continue;
		do {
			int rc, tag = dwarf_tag(&child);

			if (tag == DW_TAG_invalid)
				return DWARF_CORRUPT;
			if (tag != DW_TAG_subprogram || !die_has_code(&child))
				continue;
			rc = visit(&child, bias, arg);
			if (rc)
				return rc;
		} while ((more = dwarf_siblingof(&child, &child)) == 0);
		if (more < 0)
			return DWARF_CORRUPT;
	}
	return dwfl_errno() ? DWARF_CORRUPT : 0;
}

/* ---- Signatures ------------------------------------------------------------- */

struct fn_signature {
	Dwarf_Die ret;
	bool has_ret;		/* false: void */
	Dwarf_Die params[SIG_MAX_PARAMS];
	int nparams;		/* all of them, even past SIG_MAX_PARAMS */
	bool varargs;
	bool prototyped;
};

static bool type_of(Dwarf_Die *die, Dwarf_Die *type)
{
	Dwarf_Attribute attr;

	return dwarf_formref_die(dwarf_attr_integrate(die, DW_AT_type, &attr), type) != NULL;
}

/* The DIE that holds the declared signature: an out-of-line instance of an
 * inline function points at it through DW_AT_abstract_origin. */
static Dwarf_Die *declaring_die(Dwarf_Die *fn, Dwarf_Die *origin)
{
	Dwarf_Attribute attr;

	if (dwarf_formref_die(dwarf_attr(fn, DW_AT_abstract_origin, &attr), origin))
		return origin;
	return fn;
}

static void read_signature(Dwarf_Die *fn, struct fn_signature *sig)
{
	Dwarf_Die origin, child;
	Dwarf_Die *decl = declaring_die(fn, &origin);
	bool prototyped = false;
	Dwarf_Attribute attr;

	memset(sig, 0, sizeof(*sig));
	sig->has_ret = type_of(fn, &sig->ret);
	dwarf_formflag(dwarf_attr_integrate(fn, DW_AT_prototyped, &attr), &prototyped);
	sig->prototyped = prototyped;
	if (dwarf_child(decl, &child) != 0)
		return;
	do {
		int tag = dwarf_tag(&child);

		if (tag == DW_TAG_unspecified_parameters)
			sig->varargs = true;
		if (tag != DW_TAG_formal_parameter)
			continue;
		if (sig->nparams < SIG_MAX_PARAMS && !type_of(&child, &sig->params[sig->nparams]))
			return;	/* a parameter without a type: leave the count short */
		sig->nparams++;
	} while (dwarf_siblingof(&child, &child) == 0);
}

static bool is_qualifier(int tag)
{
	return tag == DW_TAG_const_type || tag == DW_TAG_volatile_type ||
	       tag == DW_TAG_restrict_type || tag == DW_TAG_atomic_type;
}

/* Follow typedefs and qualifiers to the type underneath; *is_const tells
 * whether a const was met on the way.  False for void. */
static bool strip_type(Dwarf_Die *type, Dwarf_Die *out, bool *is_const)
{
	Dwarf_Die cur = *type;

	*is_const = false;
	for (int depth = 0; depth < TYPE_MAX_DEPTH; depth++) {
		int tag = dwarf_tag(&cur);

		if (tag != DW_TAG_typedef && !is_qualifier(tag)) {
			*out = cur;
			return true;
		}
		if (tag == DW_TAG_const_type)
			*is_const = true;
		if (!type_of(&cur, &cur))
			return false;
	}
	return false;
}

static bool is_integer(Dwarf_Die *type, int bytes, bool is_signed)
{
	Dwarf_Die base;
	Dwarf_Word encoding;
	Dwarf_Attribute attr;
	bool is_const;

	if (!strip_type(type, &base, &is_const) || dwarf_tag(&base) != DW_TAG_base_type)
		return false;
	if (dwarf_bytesize(&base) != bytes ||
	    dwarf_formudata(dwarf_attr(&base, DW_AT_encoding, &attr), &encoding))
		return false;
	return encoding == (is_signed ? DW_ATE_signed : DW_ATE_unsigned);
}

/* char, signed char, unsigned char, int8_t, uint8_t. */
static bool is_byte(Dwarf_Die *base)
{
	Dwarf_Word encoding;
	Dwarf_Attribute attr;

	if (dwarf_tag(base) != DW_TAG_base_type || dwarf_bytesize(base) != 1 ||
	    dwarf_formudata(dwarf_attr(base, DW_AT_encoding, &attr), &encoding))
		return false;
	return encoding == DW_ATE_signed_char || encoding == DW_ATE_unsigned_char ||
	       encoding == DW_ATE_signed || encoding == DW_ATE_unsigned;
}

/* A pointer (itself possibly qualified) to bytes; a const pointee only
 * when `const_ok`. */
static bool is_byte_pointer(Dwarf_Die *type, bool const_ok)
{
	Dwarf_Die ptr, pointee, base;
	bool is_const;

	if (!strip_type(type, &ptr, &is_const) || dwarf_tag(&ptr) != DW_TAG_pointer_type)
		return false;
	if (!type_of(&ptr, &pointee) || !strip_type(&pointee, &base, &is_const))
		return false;
	return is_byte(&base) && (const_ok || !is_const);
}

static bool fits_handler(struct fn_signature *sig)
{
	return sig->has_ret && is_integer(&sig->ret, 8, true) &&
	       sig->nparams == 4 && !sig->varargs &&
	       is_byte_pointer(&sig->params[0], true) &&
	       is_integer(&sig->params[1], 8, false) &&
	       is_byte_pointer(&sig->params[2], false) &&
	       is_integer(&sig->params[3], 8, false);
}

static bool fits_parser(struct fn_signature *sig)
{
	return sig->has_ret && is_integer(&sig->ret, 4, true) && sig->nparams >= 2 &&
	       is_byte_pointer(&sig->params[0], true) &&
	       is_integer(&sig->params[1], 8, false);
}

static enum obj_role classify(struct fn_signature *sig)
{
	if (fits_handler(sig))
		return OBJ_ROLE_HANDLER;
	if (fits_parser(sig))
		return OBJ_ROLE_PARSER;
	return OBJ_ROLE_NONE;
}

/* ---- Rendering a signature as C ------------------------------------------ */

struct text {
	char buf[384];
	size_t len;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->len >= sizeof(t->buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len += (size_t)n;
	if (t->len >= sizeof(t->buf))
		t->len = sizeof(t->buf) - 1;
}

static bool ends_with_star(const struct text *t)
{
	return t->len > 0 && t->buf[t->len - 1] == '*';
}

static void render_type(struct text *t, Dwarf_Die *type, int depth);

static void render_maybe_void(struct text *t, Dwarf_Die *type, bool present, int depth)
{
	if (present)
		render_type(t, type, depth);
	else
		put(t, "void");
}

static void render_param_list(struct text *t, struct fn_signature *sig, int depth)
{
	put(t, "(");
	for (int i = 0; i < sig->nparams; i++) {
		if (i)
			put(t, ", ");
		if (i < SIG_MAX_PARAMS)
			render_type(t, &sig->params[i], depth);
		else
			put(t, "...");	/* past what we keep: elided */
	}
	if (sig->varargs)
		put(t, sig->nparams ? ", ..." : "...");
	else if (!sig->nparams && sig->prototyped)
		put(t, "void");
	put(t, ")");
}

/* C declarator syntax: a function returning a function pointer reads
 * `int (*(int))(char *, int)`, so the parameters go inside the (*...). */
static void render_function(struct text *t, Dwarf_Die *fn_or_type, const char *declarator, int depth)
{
	struct fn_signature sig;
	struct text inner = { .len = 0 };
	Dwarf_Die target;

	read_signature(fn_or_type, &sig);
	if (sig.has_ret && dwarf_tag(&sig.ret) == DW_TAG_pointer_type && type_of(&sig.ret, &target) &&
	    dwarf_tag(&target) == DW_TAG_subroutine_type && depth < TYPE_MAX_DEPTH) {
		put(&inner, "(*%s", declarator);
		render_param_list(&inner, &sig, depth + 1);
		put(&inner, ")");
		render_function(t, &target, inner.buf, depth + 1);
		return;
	}
	render_maybe_void(t, &sig.ret, sig.has_ret, depth);
	put(t, " %s", declarator);
	render_param_list(t, &sig, depth);
}

static const char *qualifier_name(int tag)
{
	switch (tag) {
	case DW_TAG_const_type:    return "const";
	case DW_TAG_volatile_type: return "volatile";
	case DW_TAG_restrict_type: return "restrict";
	default:                   return "_Atomic";
	}
}

/* gcc names base types "long unsigned int"; say it the way C code does,
 * as clang does, so messages read the same for both compilers. */
static const char *c_spelling(const char *name)
{
	static const char *const spellings[][2] = {
		{ "long int", "long" },
		{ "long unsigned int", "unsigned long" },
		{ "short int", "short" },
		{ "short unsigned int", "unsigned short" },
		{ "long long int", "long long" },
		{ "long long unsigned int", "unsigned long long" },
	};

	for (size_t i = 0; name && i < KOFF_ARRAY_SIZE(spellings); i++)
		if (!strcmp(name, spellings[i][0]))
			return spellings[i][1];
	return name;
}

static void render_named(struct text *t, const char *keyword, Dwarf_Die *type)
{
	const char *name = c_spelling(dwarf_diename(type));

	put(t, "%s%s%s", keyword, *keyword ? " " : "", name ? name : "<anonymous>");
}

static void render_type(struct text *t, Dwarf_Die *type, int depth)
{
	int tag = dwarf_tag(type);
	Dwarf_Die inner;
	bool has_inner = type_of(type, &inner);

	if (depth > TYPE_MAX_DEPTH) {
		put(t, "...");
		return;
	}
	switch (tag) {
	case DW_TAG_base_type:
	case DW_TAG_typedef:        render_named(t, "", type); break;
	case DW_TAG_structure_type: render_named(t, "struct", type); break;
	case DW_TAG_union_type:     render_named(t, "union", type); break;
	case DW_TAG_enumeration_type: render_named(t, "enum", type); break;
	case DW_TAG_pointer_type:
		if (has_inner && dwarf_tag(&inner) == DW_TAG_subroutine_type) {
			render_function(t, &inner, "(*)", depth + 1);
			break;
		}
		render_maybe_void(t, &inner, has_inner, depth + 1);
		put(t, ends_with_star(t) ? "*" : " *");
		break;
	case DW_TAG_const_type:
	case DW_TAG_volatile_type:
	case DW_TAG_restrict_type:
	case DW_TAG_atomic_type:
		/* A qualified pointer reads `char *const`; anything else `const char`. */
		if (has_inner && dwarf_tag(&inner) == DW_TAG_pointer_type) {
			render_type(t, &inner, depth + 1);
			put(t, "%s", qualifier_name(tag));
		} else {
			put(t, "%s ", qualifier_name(tag));
			render_maybe_void(t, &inner, has_inner, depth + 1);
		}
		break;
	case DW_TAG_array_type:
		render_maybe_void(t, &inner, has_inner, depth + 1);
		put(t, "[]");
		break;
	case DW_TAG_subroutine_type:
		render_function(t, type, "", depth + 1);
		break;
	default:
		put(t, "<DWARF tag 0x%x>", (unsigned)tag);
	}
}

/* The name of the function symbol that starts at `addr`, or NULL. */
static const char *symbol_at(const struct obj_file *obj, Dwfl_Module *mod, Dwarf_Addr addr)
{
	for (int i = 1; i < obj->nsyms; i++) {
		const struct obj_symbol *s = &obj->syms[i];
		Dwarf_Addr a;

		if (s->type == STT_FUNC && s->shndx != SHN_UNDEF &&
		    symbol_address(mod, s, &a) == 0 && a == addr)
			return s->name;
	}
	return NULL;
}

/* A clone (foo.constprop.0) carries foo's DWARF name but not foo's ABI:
 * the symbol at its entry tells it apart. */
static bool is_clone(const struct obj_file *obj, Dwfl_Module *mod, Dwarf_Die *fn,
		     Dwarf_Addr bias, const char *dwarf_name, const char **symbol)
{
	Dwarf_Addr entry;

	*symbol = NULL;
	if (die_entry_address(fn, &entry) == 0)
		*symbol = symbol_at(obj, mod, entry + bias);
	return *symbol && strcmp(*symbol, dwarf_name);
}

/* ---- Finding a function by name ----------------------------------------- */

struct function_search {
	const struct obj_file *obj;
	Dwfl_Module *mod;
	const char *name;
	Dwarf_Addr symbol_address;	/* of the ELF symbol `name`, if any */
	bool has_symbol_address;
	Dwarf_Die found;
	bool by_name;		/* a match by DWARF name alone (no symbol) */
};

/* The DIE whose code holds the symbol's address is the one the symbol
 * names; a clone (foo.isra.0) carries foo's DWARF name but not its code. */
static int match_function(Dwarf_Die *fn, Dwarf_Addr bias, void *arg)
{
	struct function_search *s = arg;
	const char *name = die_name(fn), *symbol;

	if (!name || strcmp(name, s->name) || is_clone(s->obj, s->mod, fn, bias, name, &symbol))
		return 0;
	if (s->has_symbol_address && dwarf_haspc(fn, s->symbol_address - bias) == 1) {
		s->found = *fn;
		return 1;
	}
	if (!s->by_name) {
		s->found = *fn;
		s->by_name = true;
	}
	return 0;
}

/* 1 found, 0 not found, DWARF_CORRUPT when the walk broke off. */
static int find_function(struct obj_file *obj, Dwfl_Module *mod, const char *name, Dwarf_Die *out)
{
	struct function_search s = { .obj = obj, .mod = mod, .name = name };
	const struct obj_symbol *sym = obj_find_symbol(obj, name);
	int rc;

	if (sym && sym->type == STT_FUNC && symbol_address(mod, sym, &s.symbol_address) == 0)
		s.has_symbol_address = true;
	rc = for_each_defined_function(mod, match_function, &s);
	if (rc < 0)
		return rc;
	if (!rc && !s.by_name)
		return 0;
	*out = s.found;
	return 1;
}

/* Any base type in the unit: -g1 and -gline-tables-only emit none. */
static bool unit_has_types(Dwarf_Die *cu)
{
	Dwarf_Die child;

	if (dwarf_child(cu, &child) != 0)
		return false;
	do {
		int tag = dwarf_tag(&child);

		if (tag == DW_TAG_base_type || tag == DW_TAG_pointer_type || tag == DW_TAG_typedef)
			return true;
	} while (dwarf_siblingof(&child, &child) == 0);
	return false;
}

/* A function DIE with no type and no parameters in a unit without types:
 * the compiler kept only names and lines, not the declared signature. */
static bool signature_missing(Dwarf_Die *fn)
{
	Dwarf_Die cu, origin, child;
	Dwarf_Die *decl = declaring_die(fn, &origin);

	if (dwarf_hasattr_integrate(fn, DW_AT_type) || dwarf_child(decl, &child) == 0)
		return false;
	return dwarf_diecu(fn, &cu, NULL, NULL) && !unit_has_types(&cu);
}

static bool module_has_types(Dwfl_Module *mod)
{
	Dwarf_Die *cu = NULL;
	Dwarf_Addr bias;

	while ((cu = dwfl_module_nextcu(mod, cu, &bias)))
		if (unit_has_types(cu))
			return true;
	return false;
}

static int no_types(struct obj_file *obj, const char *name, struct koff_error *err)
{
	return koff_fail(err, -EINVAL, "%s: %s has no DWARF types (-g1 or -gline-tables-only?), so the "
			 "signature cannot be checked; compile with -g", name, obj->path);
}

/* Not found: say whether the DWARF is the problem rather than the name. */
static int function_not_found(struct obj_file *obj, Dwfl_Module *mod, const char *name, int walk,
			      struct koff_error *err)
{
	const struct obj_symbol *sym = obj_find_symbol(obj, name);

	if (walk == DWARF_CORRUPT)
		return koff_fail(err, -EINVAL, "%s: corrupt DWARF in %s: %s", name, obj->path,
				 dwarf_errmsg(-1));
	if (sym && sym->type == STT_FUNC && !module_has_types(mod))
		return no_types(obj, name, err);
	if (sym && sym->type == STT_FUNC)
		return koff_fail(err, -EINVAL, "%s: defined in %s, but its DWARF has no entry for it "
				 "(corrupt DWARF?)", name, obj->path);
	return koff_fail(err, -ENOENT, "%s: no such function in %s", name, obj->path);
}

/* Whether `name` fits a role: any role, or only the handler's. */
static int check_function(struct obj_file *obj, const char *name, bool any_role, enum obj_role *role,
			  struct koff_error *err)
{
	Dwfl_Module *mod = object_module(obj);
	struct fn_signature sig;
	struct text rendered = { .len = 0 };
	Dwarf_Die fn;
	int found;

	if (!mod)
		return koff_fail(err, -ENOENT, "%s: no such function in %s", name, obj->path);
	found = find_function(obj, mod, name, &fn);
	if (found <= 0)
		return function_not_found(obj, mod, name, found, err);
	read_signature(&fn, &sig);
	*role = classify(&sig);
	if (*role == OBJ_ROLE_HANDLER || (any_role && *role != OBJ_ROLE_NONE))
		return 0;
	if (signature_missing(&fn))
		return no_types(obj, name, err);
	render_function(&rendered, &fn, "", 0);
	if (!any_role)
		return koff_fail(err, -EINVAL, "%s: signature is `%s`, expected `%s`", name, rendered.buf,
				 HANDLER_SIGNATURE);
	return koff_fail(err, -EINVAL, "%s: signature is `%s`, expected `%s` (a handler) or `%s` (a parser)",
			 name, rendered.buf, HANDLER_SIGNATURE, PARSER_SIGNATURE);
}

int obj_check_entry(struct obj_file *obj, const char *name, enum obj_role *role, struct koff_error *err)
{
	return check_function(obj, name, true, role, err);
}

int obj_check_handler(struct obj_file *obj, const char *name, struct koff_error *err)
{
	enum obj_role role;

	return check_function(obj, name, false, &role, err);
}

/* ---- What kind of DWARF ------------------------------------------------- */

/* A skeleton unit (DWARF 5) or a GNU dwo_name (DWARF 4): the types and
 * functions live in a .dwo file. */
static bool is_skeleton_unit(Dwarf_Die *cu)
{
	return dwarf_tag(cu) == DW_TAG_skeleton_unit || dwarf_hasattr(cu, DW_AT_dwo_name) ||
	       dwarf_hasattr(cu, DW_AT_GNU_dwo_name);
}

int obj_check_debug_info(struct obj_file *obj, struct koff_error *err)
{
	Dwfl_Module *mod = object_module(obj);
	Dwarf_Die *cu = NULL;
	Dwarf_Addr bias;
	int units = 0;

	if (!mod)
		return koff_fail(err, -EINVAL, "%s: cannot read DWARF: no module", obj->path);
	dwfl_errno();
	while ((cu = dwfl_module_nextcu(mod, cu, &bias))) {
		units++;
		if (is_skeleton_unit(cu))
			return koff_fail(err, -EINVAL, "%s: split DWARF (-gsplit-dwarf) is not supported: the "
					 "signatures are in a .dwo file; rebuild without -gsplit-dwarf", obj->path);
	}
	if (dwfl_errno() || !units)
		return koff_fail(err, -EINVAL, "%s: corrupt DWARF: %s", obj->path,
				 units ? dwfl_errmsg(-1) : "no compile unit in .debug_info");
	return 0;
}

/* ---- Listing every function -------------------------------------------- */

struct function_list {
	struct obj_file *obj;
	Dwfl_Module *mod;
	const char **names;
	enum obj_role *roles;
	int count, names_cap, roles_cap;
};

static int add_function(Dwarf_Die *fn, Dwarf_Addr bias, void *arg)
{
	struct function_list *l = arg;
	const char *dwarf_name = die_name(fn), *symbol;
	enum obj_role role = OBJ_ROLE_NONE;
	struct fn_signature sig;

	if (!dwarf_name)
		return 0;
	/* A clone is listed under its symbol's name, with no role. */
	if (!is_clone(l->obj, l->mod, fn, bias, dwarf_name, &symbol)) {
		read_signature(fn, &sig);
		role = classify(&sig);
	}
	if (koff_grow(&l->names, &l->names_cap, l->count, sizeof(*l->names)) ||
	    koff_grow(&l->roles, &l->roles_cap, l->count, sizeof(*l->roles)))
		return -ENOMEM;
	l->names[l->count] = symbol ? symbol : dwarf_name;
	l->roles[l->count] = role;
	l->count++;
	return 0;
}

int obj_list_functions(struct obj_file *obj, const char ***names, enum obj_role **roles, int *count)
{
	struct function_list l = { .obj = obj, .mod = object_module(obj) };
	int rc;

	*names = NULL;
	*roles = NULL;
	*count = 0;
	if (!l.mod)
		return -ENOENT;
	rc = for_each_defined_function(l.mod, add_function, &l);
	if (rc < 0) {
		free(l.names);
		free(l.roles);
		return rc;
	}
	*names = l.names;
	*roles = l.roles;
	*count = l.count;
	return 0;
}

/* ---- Source lines ----------------------------------------------------------- */

/* The compile unit whose code holds addr.  Searched directly rather than
 * through .debug_aranges, which clang does not emit by default. */
static Dwarf_Die *unit_holding(Dwfl_Module *mod, Dwarf_Addr addr, Dwarf_Addr *bias)
{
	Dwarf_Die *cu = NULL;

	while ((cu = dwfl_module_nextcu(mod, cu, bias)))
		if (dwarf_haspc(cu, addr - *bias) == 1)
			return cu;
	return NULL;
}

int obj_source_line(struct obj_file *obj, int shndx, uint64_t off, char *buf, size_t len)
{
	Dwfl_Module *mod = object_module(obj);
	Dwarf_Addr addr, bias;
	Dwarf_Die *cu;
	Dwarf_Line *line;
	const char *file, *slash;
	int lineno = 0;

	snprintf(buf, len, "?");
	if (!mod || shndx <= 0 || shndx >= obj->nsecs || section_address(mod, shndx, &addr))
		return -ENOENT;
	addr += off;
	cu = unit_holding(mod, addr, &bias);
	/* libdw picks the row of the sequence holding addr that starts at or
	 * before it: the closest line entry at or before the instruction. */
	line = cu ? dwarf_getsrc_die(cu, addr - bias) : NULL;
	if (!line || dwarf_lineno(line, &lineno) || lineno <= 0)
		return -ENOENT;
	file = dwarf_linesrc(line, NULL, NULL);
	if (!file)
		return -ENOENT;
	slash = strrchr(file, '/');
	snprintf(buf, len, "%s:%d", slash ? slash + 1 : file, lineno);
	return 0;
}

/* ---- Where a function's arguments are passed -------------------------- */

/* Eightbytes a value of this type takes in integer and in SSE registers
 * (SysV x86-64), counted for the worse of both classes when it is an
 * aggregate; false when it goes in memory (larger than 16 bytes, long
 * double, or a size libdw does not know). */
static bool register_eightbytes(Dwarf_Die *type, int *ints, int *sses)
{
	Dwarf_Die t;
	Dwarf_Word encoding;
	Dwarf_Attribute attr;
	bool is_const;
	int size, eights;

	if (!strip_type(type, &t, &is_const))
		return false;
	size = dwarf_bytesize(&t);
	if (dwarf_tag(&t) == DW_TAG_pointer_type || dwarf_tag(&t) == DW_TAG_enumeration_type) {
		*ints += 1;
		return true;
	}
	if (size <= 0 || size > 16)
		return false;
	eights = (size + 7) / 8;
	if (dwarf_tag(&t) == DW_TAG_base_type &&
	    !dwarf_formudata(dwarf_attr(&t, DW_AT_encoding, &attr), &encoding)) {
		if (encoding == DW_ATE_float && size == 16)
			return false;	/* long double: memory */
		if (encoding == DW_ATE_float || encoding == DW_ATE_complex_float)
			*sses += eights;
		else
			*ints += eights;
		return true;
	}
	*ints += eights;
	*sses += eights;
	return true;
}

struct args_search {
	const char *name;
	bool found;
	struct fn_signature sig;
};

static int match_by_name(Dwarf_Die *fn, Dwarf_Addr bias, void *arg)
{
	struct args_search *s = arg;
	const char *name = die_name(fn);

	(void)bias;
	if (!name || strcmp(name, s->name))
		return 0;
	read_signature(fn, &s->sig);
	s->found = true;
	return 1;
}

int obj_args_in_registers(struct obj_file *obj, const char *name, char *why, size_t len)
{
	Dwfl_Module *mod = object_module(obj);
	struct args_search s = { .name = name };
	int ints = 0, sses = 0;

	if (!mod || for_each_defined_function(mod, match_by_name, &s) < 0 || !s.found) {
		snprintf(why, len, "no DWARF for %s in %s to tell how its arguments are passed", name, obj->path);
		return 0;
	}
	if (s.sig.varargs) {
		snprintf(why, len, "%s is variadic", name);
		return 0;
	}
	if (s.sig.nparams > SIG_MAX_PARAMS) {
		snprintf(why, len, "%s has %d parameters", name, s.sig.nparams);
		return 0;
	}
	if (s.sig.has_ret) {
		int ri = 0, rs = 0;

		if (!register_eightbytes(&s.sig.ret, &ri, &rs))
			ints++;	/* returned through a hidden pointer in rdi */
	}
	for (int i = 0; i < s.sig.nparams; i++)
		if (!register_eightbytes(&s.sig.params[i], &ints, &sses)) {
			snprintf(why, len, "%s takes parameter %d on the stack", name, i + 1);
			return 0;
		}
	if (ints > 6 || sses > 8) {
		snprintf(why, len, "%s may take arguments on the stack", name);
		return 0;
	}
	return 1;
}

/* ---- Global variables and whether their types hold pointers -------------- */

/* Type DIEs one pointer question may visit: a crafted object could nest
 * wide structs deeply enough to make the walk exponential. */
#define TYPE_VISIT_BUDGET 20000

/* Whether a value of this type holds a pointer anywhere: a pointer or
 * reference, or an array, struct, class or union with one inside.  Types
 * deeper than TYPE_MAX_DEPTH (cyclic or absurd), or past the visit budget,
 * count as holding one: refusing is always allowed. */
static bool type_holds_pointer(Dwarf_Die *type, int depth, int *budget)
{
	Dwarf_Die cur = *type, child, member;
	int tag = DW_TAG_invalid;

	if (depth > TYPE_MAX_DEPTH || --*budget < 0)
		return true;
	for (int i = 0; i < TYPE_MAX_DEPTH; i++) {
		tag = dwarf_tag(&cur);
		if (tag != DW_TAG_typedef && !is_qualifier(tag))
			break;
		if (!type_of(&cur, &cur))
			return false;	/* const void: no bytes */
	}
	switch (tag) {
	case DW_TAG_base_type:
	case DW_TAG_enumeration_type:
		return false;
	case DW_TAG_array_type:
		return !type_of(&cur, &child) || type_holds_pointer(&child, depth + 1, budget);
	case DW_TAG_structure_type:
	case DW_TAG_union_type:
	case DW_TAG_class_type:
		if (dwarf_child(&cur, &member) != 0)
			return false;	/* no members: no pointer */
		do {
			if (dwarf_tag(&member) != DW_TAG_member)
				continue;
			if (!type_of(&member, &child) || type_holds_pointer(&child, depth + 1, budget))
				return true;
		} while (dwarf_siblingof(&member, &member) == 0);
		return false;
	default:	/* pointers, references, pointers to members, anything unknown */
		return true;
	}
}

/* The libdwfl address of a variable located at one fixed address
 * (DW_OP_addr or DW_OP_addrx alone); false for registers, TLS,
 * optimised-out ones. */
static bool variable_address(Dwarf_Die *var, Dwarf_Addr bias, Dwarf_Addr *addr)
{
	Dwarf_Attribute attr;
	Dwarf_Op *expr;
	size_t len;

	Dwarf_Attribute indexed;
	Dwarf_Addr a;

	if (!dwarf_attr(var, DW_AT_location, &attr) || dwarf_getlocation(&attr, &expr, &len) != 0 ||
	    len != 1)
		return false;
	if (expr[0].atom == DW_OP_addr) {
		*addr = expr[0].number + bias;
		return true;
	}
	/* DWARF 5 (clang's default): an index into .debug_addr */
	if ((expr[0].atom == DW_OP_addrx || expr[0].atom == DW_OP_GNU_addr_index) &&
	    dwarf_getlocation_attr(&attr, &expr[0], &indexed) == 0 && dwarf_formaddr(&indexed, &a) == 0) {
		*addr = a + bias;
		return true;
	}
	return false;
}

/* The section holding libdwfl address `addr`, and the offset in it. */
static int section_of_address(const struct obj_file *obj, Dwfl_Module *mod, Dwarf_Addr addr,
			      uint64_t *off)
{
	for (int i = 1; i < obj->nsecs; i++) {
		Dwarf_Addr base;

		if (!(obj->secs[i].flags & SHF_ALLOC) || section_address(mod, i, &base))
			continue;
		if (addr >= base && addr - base < obj->secs[i].size) {
			*off = addr - base;
			return i;
		}
	}
	return -1;
}

struct variable_walk {
	const struct obj_file *obj;
	Dwfl_Module *mod;
	Dwarf_Addr bias;
	obj_variable_visitor visit;
	void *arg;
};

static int visit_variable(struct variable_walk *w, Dwarf_Die *var)
{
	struct obj_variable v = { .name = dwarf_diename(var) };
	Dwarf_Die type;
	Dwarf_Addr addr;

	if (!variable_address(var, w->bias, &addr))
		return 0;
	v.shndx = section_of_address(w->obj, w->mod, addr, &v.off);
	if (v.shndx < 0)
		return 0;
	int budget = TYPE_VISIT_BUDGET;

	v.has_type = type_of(var, &type);
	v.holds_pointer = !v.has_type || type_holds_pointer(&type, 0, &budget);
	if (!v.name)
		v.name = "?";
	return w->visit(&v, w->arg);
}

/* Variables anywhere below `die`: at file scope, and function-local
 * statics inside subprograms and their lexical blocks. */
static int walk_variables(struct variable_walk *w, Dwarf_Die *die, int depth)
{
	Dwarf_Die child;
	int more, rc;

	if (depth > 32)
		return 0;
	more = dwarf_child(die, &child);
	if (more < 0)
		return DWARF_CORRUPT;
	if (more > 0)
		return 0;
	do {
		int tag = dwarf_tag(&child);

		if (tag == DW_TAG_invalid)
			return DWARF_CORRUPT;
		if (tag == DW_TAG_variable)
			rc = visit_variable(w, &child);
		else if (tag == DW_TAG_subprogram || tag == DW_TAG_lexical_block ||
			 tag == DW_TAG_namespace || tag == DW_TAG_inlined_subroutine)
			rc = walk_variables(w, &child, depth + 1);
		else
			rc = 0;
		if (rc)
			return rc;
	} while ((more = dwarf_siblingof(&child, &child)) == 0);
	return more < 0 ? DWARF_CORRUPT : 0;
}

int obj_for_each_variable(struct obj_file *obj, obj_variable_visitor visit, void *arg,
			  struct koff_error *err)
{
	struct variable_walk w = { .obj = obj, .mod = object_module(obj), .visit = visit, .arg = arg };
	Dwarf_Die *cu = NULL;
	int rc;

	if (!w.mod)
		return koff_fail(err, -ENOENT, "%s: no DWARF module", obj->path);
	dwfl_errno();
	while ((cu = dwfl_module_nextcu(w.mod, cu, &w.bias))) {
		rc = walk_variables(&w, cu, 0);
		if (rc == DWARF_CORRUPT)
			return koff_fail(err, rc, "%s: corrupt DWARF: %s", obj->path, dwarf_errmsg(-1));
		if (rc)
			return rc;
	}
	return 0;
}
