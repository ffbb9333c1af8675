#include <alpha.h>
#include "beta.h"
int beta_twice(int a) { return alpha_add(a, a); }
