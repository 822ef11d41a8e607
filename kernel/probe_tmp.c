#include "target.h"
int kernel_probe_features(uint64_t *features, struct koff_error *err)
{
	(void)features;
	return koff_fail(err, -ENOSYS, "probe not built yet");
}
#include "vm.h"
const char *vm_image_for(const char *series, char *buf, size_t len) { (void)series; (void)buf; (void)len; return NULL; }
int vm_verify_object(const char *image, const char *p, struct bpf_verdict *v, struct koff_error *err)
{ (void)image; (void)p; (void)v; return koff_fail(err, -ENOSYS, "no vm yet"); }
const char *vm_image_release(const char *i, char *b, size_t l) { (void)i; (void)b; (void)l; return NULL; }
