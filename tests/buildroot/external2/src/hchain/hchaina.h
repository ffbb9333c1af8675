const char *hchaina(void);
