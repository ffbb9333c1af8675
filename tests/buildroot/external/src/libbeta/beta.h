#ifndef BETA_H
#define BETA_H
int beta_twice(int a);
#endif
