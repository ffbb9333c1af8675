#include <stdio.h>
#include "hchaina.h"
#ifdef GEN
#include "gen.h"
#else
#define GENERATED "none"
#endif
int main(void) { printf("%s %s\n", hchaina(), GENERATED); return 0; }
