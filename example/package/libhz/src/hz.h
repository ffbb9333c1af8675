/* hz: a tiny stable string hash for the example's code generator. */
#ifndef HZ_H
#define HZ_H

/* Returns the 32-bit FNV-1a hash of s. */
unsigned hz_hash(const char *s);

#endif
