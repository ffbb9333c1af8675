#define ALPHA_VERSION "1.0"
