const char *hchaina(void) { return "hchain-a"; }
