#include <hdronly/hdr.h>
int hdr_static(void);
int main(void) { return hdr_answer() + hdr_static() == 49 ? 0 : 1; }
