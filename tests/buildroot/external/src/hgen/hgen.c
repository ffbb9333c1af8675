#include <hutil.h>
int main(int argc, char **argv)
{
    hutil_emit(argc > 1 ? argv[1] : "hgen", argc > 2 ? argv[2] : "generated");
    return 0;
}
