#include <stdio.h>
#include <beta.h>
const char *appgen_gen(void);
const char *appwrap_gen(void);
int main(void)
{
    printf("%s %s %d\n", appgen_gen(), appwrap_gen(), beta_twice(21));
    return 0;
}
