#include <stdio.h>
#include "hutil.h"
void hutil_emit(const char *name, const char *value)
{
    printf("const char *%s_gen(void) { return \"%s\"; }\n", name, value);
}
