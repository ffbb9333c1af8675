#include "alpha.h"
#include "version.h"
const char *alpha_version(void) { return ALPHA_VERSION; }
int alpha_add(int a, int b) { return a + b; }
