#define AUTO_VERSION "1.0"
const char *auto_version(void);
