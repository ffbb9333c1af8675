#include <stdio.h>
#include "cm.h"
int main(void) { puts(cm_name()); return 0; }
