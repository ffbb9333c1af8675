#include "cm.h"
#include <auto.h>
const char *cm_name(void) { return auto_version(); }
