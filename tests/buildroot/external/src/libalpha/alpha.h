#ifndef ALPHA_H
#define ALPHA_H
const char *alpha_version(void);
int alpha_add(int a, int b);
#endif
