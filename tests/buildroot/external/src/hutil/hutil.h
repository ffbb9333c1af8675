#ifndef HUTIL_H
#define HUTIL_H
void hutil_emit(const char *name, const char *value);
#endif
