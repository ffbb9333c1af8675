/* hz: a tiny stable string hash for the example's code generator. */
#include "hz.h"

unsigned hz_hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}
