#include "auto.h"
#include "gen.h"
const char *auto_version(void) { return AUTO_VERSION " " GENERATED; }
