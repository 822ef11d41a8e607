/* kfeature.c - names of the kernel features of include/target.h. */
#include "target.h"

const char *kfeature_name(enum koff_kfeature f)
{
	static const char *const names[] = {
#define KOFF_KFEATURE_NAME(id, name, since, what) [KFEAT_##id] = name,
		KOFF_KFEATURES(KOFF_KFEATURE_NAME)
#undef KOFF_KFEATURE_NAME
	};

	return (unsigned)f < KFEAT__COUNT ? names[f] : "unknown";
}
