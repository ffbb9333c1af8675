const char *cm_name(void);
