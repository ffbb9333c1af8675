#ifndef SHRINK_H
#define SHRINK_H
#define SHRINK_LEVEL 3
#endif
