/* cpio.c - newc cpio archives for initramfs images (cpio.h). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cpio.h"

#define NEWC_MAGIC "070701"

struct cpio_entry {
	const char *name;	/* guest path without the leading '/' */
	unsigned mode;		/* type and permission bits */
	size_t size;
	unsigned rdev_major, rdev_minor;
};

static int write_error(struct cpio *c, struct koff_error *err)
{
	return koff_fail(err, -EIO, "%s: write failed: %s", c->path, strerror(errno));
}

static int pad4(struct cpio *c, size_t written, struct koff_error *err)
{
	static const char zeros[4];
	size_t pad = (4 - written % 4) % 4;

	return fwrite(zeros, 1, pad, c->f) == pad ? 0 : write_error(c, err);
}

/* The 110-byte header and the name, padded so the data starts aligned. */
static int write_header(struct cpio *c, const struct cpio_entry *e, struct koff_error *err)
{
	size_t namesize = strlen(e->name) + 1;
	int n = fprintf(c->f, NEWC_MAGIC "%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X",
			c->next_ino++, e->mode, 0u, 0u, S_ISDIR(e->mode) ? 2u : 1u, 0u, e->size, 0u,
			0u, e->rdev_major, e->rdev_minor, namesize, 0u);

	if (n != 110 || fwrite(e->name, 1, namesize, c->f) != namesize)
		return write_error(c, err);
	return pad4(c, 110 + namesize, err);
}

static bool has_entry(const struct cpio *c, const char *name)
{
	for (int i = 0; i < c->nnames; i++)
		if (!strcmp(c->names[i], name))
			return true;
	return false;
}

static int remember(struct cpio *c, const char *name, struct koff_error *err)
{
	char *copy = strdup(name);

	if (!copy || koff_grow(&c->names, &c->capnames, c->nnames, sizeof(char *))) {
		free(copy);
		return koff_fail(err, -ENOMEM, "out of memory");
	}
	c->names[c->nnames++] = copy;
	return 0;
}

static int add_parents(struct cpio *c, const char *name, struct koff_error *err);

/* Header, then `len` bytes from `data` (or nothing). */
static int write_entry(struct cpio *c, const struct cpio_entry *e, const void *data,
		       struct koff_error *err)
{
	int rc = add_parents(c, e->name, err);

	if (!rc && has_entry(c, e->name))
		rc = koff_fail(err, -EEXIST, "initramfs: /%s given twice", e->name);
	if (!rc)
		rc = remember(c, e->name, err);
	if (!rc)
		rc = write_header(c, e, err);
	if (!rc && e->size && fwrite(data, 1, e->size, c->f) != e->size)
		rc = write_error(c, err);
	return rc ? rc : pad4(c, e->size, err);
}

static const char *strip_root(const char *guest)
{
	while (*guest == '/')
		guest++;
	return guest;
}

static int add_dir_named(struct cpio *c, const char *name, struct koff_error *err)
{
	struct cpio_entry e = { .name = name, .mode = S_IFDIR | 0755 };

	return has_entry(c, name) ? 0 : write_entry(c, &e, NULL, err);
}

static int add_parents(struct cpio *c, const char *name, struct koff_error *err)
{
	char *dir = strdup(name);
	int rc = dir ? 0 : koff_fail(err, -ENOMEM, "out of memory");

	for (char *slash = dir ? strchr(dir, '/') : NULL; slash && !rc; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		rc = add_dir_named(c, dir, err);
		*slash = '/';
	}
	free(dir);
	return rc;
}

int cpio_open(struct cpio *c, const char *path, struct koff_error *err)
{
	memset(c, 0, sizeof(*c));
	c->path = path;
	c->next_ino = 1;
	c->f = fopen(path, "wb");
	if (!c->f)
		return koff_fail(err, -errno, "%s: %s", path, strerror(errno));
	return 0;
}

int cpio_close(struct cpio *c, int rc, struct koff_error *err)
{
	struct cpio_entry trailer = { .name = "TRAILER!!!" };

	if (!rc && c->f)
		rc = write_header(c, &trailer, err);
	if (c->f && fclose(c->f) && !rc)
		rc = write_error(c, err);
	c->f = NULL;
	for (int i = 0; i < c->nnames; i++)
		free(c->names[i]);
	free(c->names);
	c->names = NULL;
	c->nnames = c->capnames = 0;
	return rc;
}

int cpio_add_dir(struct cpio *c, const char *guest, struct koff_error *err)
{
	const char *name = strip_root(guest);
	int rc = add_parents(c, name, err);

	return rc ? rc : add_dir_named(c, name, err);
}

int cpio_add_data(struct cpio *c, const char *guest, const void *data, size_t len, unsigned perm,
		  struct koff_error *err)
{
	struct cpio_entry e = { .name = strip_root(guest), .mode = S_IFREG | (perm & 07777), .size = len };

	return write_entry(c, &e, data, err);
}

int cpio_add_symlink(struct cpio *c, const char *guest, const char *target, struct koff_error *err)
{
	struct cpio_entry e = { .name = strip_root(guest), .mode = S_IFLNK | 0777, .size = strlen(target) };

	return write_entry(c, &e, target, err);
}

int cpio_add_char_device(struct cpio *c, const char *guest, unsigned major, unsigned minor,
			 struct koff_error *err)
{
	struct cpio_entry e = { .name = strip_root(guest), .mode = S_IFCHR | 0600,
				.rdev_major = major, .rdev_minor = minor };

	return write_entry(c, &e, NULL, err);
}

static int read_host_file(const char *host, char **data, size_t *len, unsigned *perm,
			  struct koff_error *err)
{
	struct stat st;
	FILE *f = fopen(host, "rb");
	int rc = 0;

	*data = NULL;
	if (!f)
		return koff_fail(err, -errno, "%s: %s", host, strerror(errno));
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode))
		rc = koff_fail(err, -EINVAL, "%s: not a regular file", host);
	else if (!(*data = malloc(st.st_size ? (size_t)st.st_size : 1)))
		rc = koff_fail(err, -ENOMEM, "%s: out of memory", host);
	else if (fread(*data, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
		rc = koff_fail(err, -EIO, "%s: read failed", host);
	fclose(f);
	if (rc) {
		free(*data);
		*data = NULL;
		return rc;
	}
	*len = (size_t)st.st_size;
	*perm = st.st_mode & 07777;
	return 0;
}

int cpio_add_file(struct cpio *c, const char *host, const char *guest, struct koff_error *err)
{
	unsigned perm = 0;
	size_t len = 0;
	char *data;
	int rc = read_host_file(host, &data, &len, &perm, err);

	if (rc)
		return rc;
	rc = cpio_add_data(c, guest, data, len, perm, err);
	free(data);
	return rc;
}

int cpio_add_file_once(struct cpio *c, const char *host, const char *guest, struct koff_error *err)
{
	return has_entry(c, strip_root(guest)) ? 0 : cpio_add_file(c, host, guest, err);
}
